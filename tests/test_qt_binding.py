"""The pinned Qt binding survives heavy use on this Python.

PySide6 6.12.0 on Python 3.11 drops a reference to None on every void-returning call and
aborts the process after a few thousand of them (``Fatal Python error: none_dealloc``).
This runs 200,000 such calls in a child process, so a crash fails the test instead of
killing the test run.
"""

from __future__ import annotations

import os
import subprocess
import sys

CALLS = 200_000

SCRIPT = f"""
import sys
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QApplication, QLabel, QTextEdit

app = QApplication(sys.argv)
label, edit, model = QLabel(), QTextEdit(), QStandardItemModel()
for i in range({CALLS} // 2):
    label.setText("x")
    label.setVisible(False)
for i in range(2_000):
    edit.append("line")
    model.appendRow(QStandardItem("row"))
print("survived", sys.getrefcount(None) if sys.version_info < (3, 12) else "immortal")
"""


def test_many_void_calls_do_not_crash_the_interpreter() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"Qt binding crashed: {result.stderr[-2000:]}"
    assert result.stdout.startswith("survived")
