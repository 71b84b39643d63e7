"""The desktop console (PySide6): the engine's live operations window."""

from console._pyside_guard import immortalize_singletons

# Before any widget exists: see console/_pyside_guard.py (PySide6 6.12 on Python 3.11).
immortalize_singletons()
