"""A long-lived window survives PySide6's dropped references to None (6.12 on 3.11).

Run in a child process: the failure being guarded against is the interpreter
aborting, which would take the test session down with it.
"""

from __future__ import annotations

import subprocess
import sys

# Each void Qt call once cost None a reference; ~5000 of them aborted the process.
CHILD = """
import console
from PySide6.QtCore import QObject
obj = QObject()
for _ in range(200_000):
    obj.setObjectName("x")
print("alive")
"""


def test_a_process_making_many_qt_calls_is_not_aborted():
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "alive"
