"""Labels for what the console says (a refusal, a backtest's state): they wrap, and
never widen the window, however long or unbreakable the text.

A QLabel asks its layout for the width of its longest unbreakable word, even with
word wrap on: an RE2 message quoting a 6,000-character regex once made the window
6,600 px wide, for good. These labels take the width the layout gives them
(horizontal policy Ignored, so neither their hint nor their minimum counts) and
wrap in it; a word still wider than that is elided in the middle, and the whole
text is in the tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


def monospace() -> QFont:
    font = QFont("monospace")
    font.setStyleHint(QFont.StyleHint.TypeWriter)
    return font


class StatusLabel(QLabel):
    """A wrapped plain-text label whose text never sets the window's width."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setText(text)

    def full_text(self) -> str:
        """The text as set (what `text()` shows may have elided words)."""
        return self._full

    def setText(self, text: str) -> None:
        self._full = text
        self.setToolTip(text if text != self._fitted(text) else "")
        super().setText(self._fitted(text))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        fitted = self._fitted(self._full)
        if fitted != super().text():  # only then: a new text would resize it again
            super().setText(fitted)
            self.setToolTip(self._full if fitted != self._full else "")

    def _fitted(self, text: str) -> str:
        width = self.contentsRect().width() - 2 * self.margin() - 4
        if width <= 20:  # not laid out yet: bound a word by characters instead
            width = self.fontMetrics().averageCharWidth() * 80
        metrics = self.fontMetrics()
        lines = []
        for line in text.split("\n"):
            words = [metrics.elidedText(word, Qt.TextElideMode.ElideMiddle, width)
                     if metrics.horizontalAdvance(word) > width else word
                     for word in line.split(" ")]
            lines.append(" ".join(words))
        return "\n".join(lines)


class PointerLabel(QLabel):
    """A monospace label for a pattern with a caret under a column (`rule_draft.pattern_pointer`):
    never wrapped (a wrap would move the caret), clipped at the right when the view is
    narrower than the excerpt, the whole text in the tooltip."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFont(monospace())
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text)
