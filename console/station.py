"""An attached station's own widgets: the status-bar segment that says which shared
database and which service's intake it works through, and the banner shown while its
live link to that database is lost.

The engine's store follower reports the link (`DatabaseLink`, through the bridge):
lost, the banner says what may be stale and the segment turns red; back, both clear
and the window reads every view afresh (`MainWindow._resync`).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QWidget

from console.theme import TOOL_SERVER_COLOURS

# The outage banner's amber: the same kind of news (something the console relies on
# is out), read the same way on the dark and the light theme.
LOST_STYLE = "background:#5a3d00; color:#ffe6a8; border-radius:4px;"


def lost_text(problem: str | None) -> str:
    """The banner's sentence. The store's own problem already says "lost the live link
    to the PostgreSQL server at …": then it leads, rather than being said twice."""
    why = (problem or "no reason given").strip().rstrip(".")
    if why.casefold().startswith(_LOST):
        return f"{why[0].upper()}{why[1:]}. What you see may be out of date; reconnecting…"
    return (f"Lost the live link to the database: {why}. What you see may be out of "
            f"date; reconnecting…")


_LOST = "lost the live link"


class LinkBanner(QFrame):
    """Across the top of the window while the live link to the database is lost."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("linkBanner")  # the style sheet's selector: one word
        self.setStyleSheet(f"QFrame#linkBanner {{{LOST_STYLE}}}")
        self.text = QLabel()
        self.text.setTextFormat(Qt.TextFormat.PlainText)  # it quotes a server's words
        self.text.setWordWrap(True)
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(self.text, 1)
        self.lost = False
        self.hide()

    def set_link(self, up: bool, problem: str | None = None) -> None:
        self.lost = not up
        if not up:
            self.text.setText(lost_text(problem))
        self.setVisible(not up)


class AttachedSegment(QLabel):
    """"Attached to PostgreSQL database 'team' at db:5432 via http://…": red while the
    live link is lost."""

    def __init__(self, database: str, intake_url: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.database = database
        self.intake_url = intake_url
        self.set_link(True)

    @property
    def where(self) -> str:
        return f"attached to {self.database} via {self.intake_url}"

    def set_link(self, up: bool, problem: str | None = None) -> None:
        self.lost = not up
        if up:
            self.setText(f"<span style='color:{TOOL_SERVER_COLOURS['ready']}'>●</span> "
                         f"{html.escape(self.where[0].upper() + self.where[1:], quote=False)}")
            self.setStyleSheet("")
            self.setToolTip("An operator station: the services behind the intake answer "
                            "the requests; the feed, charts, queue and rules come from the "
                            "shared database and stay live.")
        else:
            self.setText(f"● Link lost · {html.escape(self.where, quote=False)}")
            self.setStyleSheet(f"color: {TOOL_SERVER_COLOURS['failed']};")
            self.setToolTip(lost_text(problem))
