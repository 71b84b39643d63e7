"""The desktop console (PySide6). Built in a later issue; only the package exists so far."""
