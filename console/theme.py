"""Dark and light themes: the Fusion style with a palette, and one small stylesheet.

A palette rather than a big stylesheet: Qt's own widgets (tables, spin boxes,
dock title bars) stay native-looking and every colour comes from one place.
Widgets that paint themselves (the waterfall, the status-bar segments) read
the palette and the semantic colours below, so a theme switch reaches them too.
"""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory


class Theme(StrEnum):
    DARK = "dark"
    LIGHT = "light"

    @property
    def other(self) -> Theme:
        return Theme.LIGHT if self is Theme.DARK else Theme.DARK


# Semantic colours, the same in both themes: saturated enough to read on either.
ROUTE_COLOURS: dict[str, str] = {
    "rule": "#3fb950",  # the fast path: green
    "learned": "#8fd14f",  # the fast path's learned tier: a lighter green
    "cache-l1": "#2bb6c9",
    "cache-l2": "#1f8fa8",
    "llm": "#5b8def",  # the slow path: blue
    "template": "#e3a33b",  # degraded: amber, both rungs of the ladder
    "static": "#e3a33b",
    "human": "#e5534b",
    "guard": "#8b949e",
}
STATUS_COLOURS: dict[str, str] = {
    "answered": "#3fb950",
    "escalated": "#e5534b",
    "rejected": "#8b949e",
}
BREAKER_COLOURS: dict[str, str] = {
    "closed": "#3fb950",
    "half_open": "#e3a33b",
    "open": "#e5534b",
}
ERROR_COLOUR = "#e5534b"
TOOL_SERVER_COLOURS: dict[str, str] = {
    "ready": "#3fb950",
    "starting": "#e3a33b",
    "reconnecting": "#e3a33b",
    "failed": ERROR_COLOUR,
    "disabled": "#8b949e",
}


def _dark_palette() -> QPalette:
    p = QPalette()
    window, base, alt = QColor("#1f2328"), QColor("#16191d"), QColor("#1c2025")
    text, dim, accent = QColor("#d7dce2"), QColor("#7d8590"), QColor("#2f6feb")
    for role, colour in [
        (QPalette.ColorRole.Window, window), (QPalette.ColorRole.WindowText, text),
        (QPalette.ColorRole.Base, base), (QPalette.ColorRole.AlternateBase, alt),
        (QPalette.ColorRole.ToolTipBase, QColor("#2d333b")),
        (QPalette.ColorRole.ToolTipText, text), (QPalette.ColorRole.Text, text),
        (QPalette.ColorRole.Button, QColor("#2a3038")),
        (QPalette.ColorRole.ButtonText, text), (QPalette.ColorRole.BrightText, QColor("#ff7b72")),
        (QPalette.ColorRole.Highlight, accent),
        (QPalette.ColorRole.HighlightedText, QColor("#ffffff")),
        (QPalette.ColorRole.Link, QColor("#58a6ff")),
        (QPalette.ColorRole.PlaceholderText, dim), (QPalette.ColorRole.Mid, QColor("#30363d")),
        (QPalette.ColorRole.Dark, QColor("#111418")), (QPalette.ColorRole.Light, QColor("#3a414a")),
    ]:
        p.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, dim)
    return p


def _light_palette() -> QPalette:
    p = QStyleFactory.create("Fusion").standardPalette()
    p.setColor(QPalette.ColorRole.Window, QColor("#f3f4f6"))
    p.setColor(QPalette.ColorRole.AlternateBase, QColor("#f6f8fa"))
    p.setColor(QPalette.ColorRole.Highlight, QColor("#2f6feb"))
    p.setColor(QPalette.ColorRole.ToolTipBase, QColor("#ffffff"))
    p.setColor(QPalette.ColorRole.ToolTipText, QColor("#1f2328"))
    return p


_STYLESHEET = """
QDockWidget::title { padding: 4px 8px; font-weight: 600; }
QStatusBar::item { border: none; }
QStatusBar QLabel { padding: 0 6px; }
QTableView { gridline-color: transparent; }
QHeaderView::section { padding: 3px 6px; }
QToolBar { spacing: 4px; }
"""


def apply_theme(app: QApplication, theme: Theme) -> None:
    """Restyles the whole application; widgets that paint themselves repaint from the palette."""
    before = app.palette()
    app.setStyle("Fusion")
    app.setPalette(_dark_palette() if theme is Theme.DARK else _light_palette())
    # Set once at start (re-polishing every widget costs ~0.1 s), and again on each
    # switch: a widget a stylesheet rule matched took its palette when polished, and
    # only a re-polish gives it the new theme (else a light window keeps dark panes).
    if app.styleSheet() != _STYLESHEET or app.palette() != before:
        app.setStyleSheet(_STYLESHEET)
