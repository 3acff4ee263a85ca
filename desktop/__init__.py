"""GPT Group's desktop app: PySide6 widgets on a qasync loop.

Everything about rooms, the network and the assistant lives in ``core``; this package only
shows it. Importing the package itself loads no Qt: :mod:`desktop.launcher` (the ``gptgroup``
command) must start the terminal tools on machines without Qt's system libraries.
"""
