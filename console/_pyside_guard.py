"""Keeps a PySide6 reference-counting bug from aborting the process on Python 3.11.

PySide6 6.12 (its abi3 wheels) returns None from every void method without
taking a reference to it. Where None is reference-counted (CPython <= 3.11),
each such call drops None's count by one; a few thousand calls later, a few
seconds of a live window, the interpreter aborts with "none_dealloc:
deallocating None". CPython 3.12 made None, True and False immortal (PEP 683),
which is why the bug goes unseen there.

`immortalize_singletons` checks for the leak itself (so it does nothing once
the binding is fixed, or on 3.12+) and, when it is there, gives None, True and
False a reference count no run can drain: what 3.12 does for them.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger("console")

_RESERVE = 1 << 60  # ~1e18 leaked references: centuries at a million calls a second
_PROBE_CALLS = 64


def leaks_none() -> bool:
    """True when a void PySide6 method drops a reference to None it never took."""
    from PySide6.QtCore import QPointF

    point = QPointF()
    before = sys.getrefcount(None)
    for _ in range(_PROBE_CALLS):
        point.setX(1.0)  # a void method: returns None
    return before - sys.getrefcount(None) >= _PROBE_CALLS // 2


def immortalize_singletons() -> bool:
    """Applies the workaround if this interpreter and binding need it; True if applied."""
    if (sys.version_info >= (3, 12) or sys.implementation.name != "cpython"
            or hasattr(sys, "gettotalrefcount")):  # a debug build lays objects out otherwise
        return False
    if not leaks_none():
        return False
    for singleton in (None, True, False):
        # ob_refcnt is the first field of every object in a release build of CPython.
        ctypes.c_ssize_t.from_address(id(singleton)).value += _RESERVE
    log.debug("PySide6 leaks references to None on this Python: None, True and False "
              "made immortal")
    return True
