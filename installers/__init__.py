"""Building the installers: the PyInstaller bundle's icons, the Debian package.

Not part of the app: nothing here is shipped. ``build.spec`` and ``make package`` use it.
"""
