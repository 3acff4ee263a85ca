"""GPT Group's desktop app: PySide6 widgets on a qasync loop.

Everything about rooms, the network and the assistant lives in ``core``; this package only
shows it. The window arrives with the desktop issue; until then ``make run`` starts the
headless host.
"""
