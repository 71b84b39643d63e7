"""Saved replies (macros) in the reply box: a list to insert from with a click or
Ctrl+Shift+M, placeholders filled from the escalation shown, and a small editor
to add, edit and delete the team's replies. A view over `SavedReplies`
(agentcore); what it refuses (a duplicate title, an empty body) is said.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from agentcore import (
    PLACEHOLDERS,
    SavedReplies,
    SavedReply,
    StorageError,
    UserFacingError,
    fill_placeholders,
)
from console import message

PICK = "Insert a saved reply…"
ERROR_STYLE = "color: #e5534b;"


class SavedRepliesBar(QWidget):
    """`values()` is the placeholders' values for the item shown (None: no item);
    `insert(text)` puts the filled reply in the reply box."""

    def __init__(self, replies: SavedReplies, values: Callable[[], dict[str, str] | None],
                 insert: Callable[[str], None], operator: Callable[[], str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.replies = replies
        self._values = values
        self._insert = insert
        self._operator = operator
        self.dialog: SavedRepliesDialog | None = None
        self.combo = QComboBox()
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(18)  # the list still shows whole titles
        self.combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.combo.setToolTip("Insert one of the team's saved replies (Ctrl+Shift+M), "
                              "filled in for this customer")
        self.manage = QToolButton()
        self.manage.setText("Edit saved replies…")
        self.manage.setToolTip("Add, edit or delete the replies the team shares")
        self.act_insert = QAction("Insert saved reply", self)
        self.act_insert.setShortcut(QKeySequence("Ctrl+Shift+M"))
        self.act_insert.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.act_insert.triggered.connect(self._pick)
        self.addAction(self.act_insert)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.manage)
        self.combo.activated.connect(self._chosen)
        self.manage.clicked.connect(self.edit)
        replies.on_changed.append(self.reload)
        self.reload()

    def reload(self) -> None:
        try:
            listed = self.replies.list()
        except StorageError as exc:
            message.warning(f"Saved replies could not be read: {exc}")
            return
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItem(PICK, None)
        for reply in listed:
            self.combo.addItem(reply.title, reply)
        self.combo.setCurrentIndex(0)
        self.combo.blockSignals(False)

    def set_enabled_for_item(self, enabled: bool) -> None:
        self.combo.setEnabled(enabled)
        self.act_insert.setEnabled(enabled)

    def _pick(self) -> None:
        self.combo.setFocus()
        self.combo.showPopup()

    def insert(self, title: str) -> str | None:
        """Inserts the reply called `title`, filled in; returns the text inserted."""
        index = self.combo.findText(title)
        if index < 1:
            return None
        return self._chosen(index)

    def _chosen(self, index: int) -> str | None:
        reply = self.combo.itemData(index)
        self.combo.setCurrentIndex(0)
        values = self._values()
        if not isinstance(reply, SavedReply) or values is None:
            return None
        text = fill_placeholders(reply.body, values)
        self._insert(text)
        return text

    def edit(self) -> SavedRepliesDialog:
        if self.dialog is None:
            self.dialog = SavedRepliesDialog(self.replies, self._operator, self.window())
        self.dialog.reload()
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog


def last_changed(reply: SavedReply) -> str:
    if reply.updated_at <= 0:  # one of the replies a new database starts with
        return "A starter reply, not changed since"
    when = datetime.fromtimestamp(reply.updated_at).strftime("%Y-%m-%d %H:%M")
    return f"Last changed by {reply.updated_by} on {when}"


class SavedRepliesDialog(QDialog):
    """The team's replies: pick one to edit it, "New" for another, placeholders named."""

    def __init__(self, replies: SavedReplies, operator: Callable[[], str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Saved replies")
        self.replies = replies
        self._operator = operator
        self.list = QListWidget()
        self.title = QLineEdit()
        self.title.setPlaceholderText("Title, as the list shows it")
        self.body = QPlainTextEdit()
        self.body.setPlaceholderText("Hi {first_name}, …")
        hint = QLabel("Placeholders: " + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS))
        hint.setWordWrap(True)
        self.changed = QLabel()  # who last changed the reply shown, and when
        self.changed.setTextFormat(Qt.TextFormat.PlainText)  # a name, as typed
        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)  # it quotes a title, as typed
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.new_button = QPushButton("&New")
        self.save_button = QPushButton("&Save")
        self.delete_button = QPushButton("&Delete")
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.close)
        buttons = QHBoxLayout()
        for button in (self.new_button, self.save_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        editor = QVBoxLayout()
        editor.addWidget(self.title)
        editor.addWidget(self.body, 1)
        editor.addWidget(hint)
        editor.addWidget(self.changed)
        row = QHBoxLayout()
        row.addWidget(self.list, 1)
        row.addLayout(editor, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(row, 1)
        layout.addWidget(self.error)
        layout.addLayout(buttons)
        self.resize(640, 360)
        self.list.currentItemChanged.connect(lambda current, _previous: self._show(current))
        self.new_button.clicked.connect(self.start_new)
        self.save_button.clicked.connect(self.save)
        self.delete_button.clicked.connect(self.delete)

    def reload(self, select: int | None = None) -> None:
        self.list.clear()
        for reply in self.replies.list():
            item = QListWidgetItem(reply.title)
            item.setData(Qt.ItemDataRole.UserRole, reply)
            item.setToolTip(last_changed(reply))
            self.list.addItem(item)
            if reply.id == select:
                self.list.setCurrentItem(item)
        if select is None:
            self.start_new()

    def current(self) -> SavedReply | None:
        item = self.list.currentItem()
        reply = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        return reply if isinstance(reply, SavedReply) else None

    def _show(self, item: QListWidgetItem | None) -> None:
        reply = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        self.error.clear()
        self.delete_button.setEnabled(isinstance(reply, SavedReply))
        self.changed.setText(last_changed(reply) if isinstance(reply, SavedReply) else "")
        if isinstance(reply, SavedReply):
            self.title.setText(reply.title)
            self.body.setPlainText(reply.body)

    def start_new(self) -> None:
        self.list.setCurrentRow(-1)
        self.title.clear()
        self.body.clear()
        self.changed.clear()
        self.error.clear()
        self.delete_button.setEnabled(False)
        self.title.setFocus()

    def save(self) -> None:
        reply = self.current()
        try:
            if reply is None:
                saved = self.replies.add(self.title.text(), self.body.toPlainText(),
                                         self._operator())
            else:
                self.replies.update(reply.id, self.title.text(), self.body.toPlainText(),
                                    self._operator())
                saved = reply.id
        except (UserFacingError, StorageError) as exc:
            self.error.setText(str(exc))
            message.warning(str(exc))
            return
        message.info(f"Saved reply “{self.title.text().strip()}” saved for the team")
        self.reload(select=saved)

    def delete(self) -> None:
        reply = self.current()
        if reply is None:
            return
        try:
            self.replies.delete(reply.id, self._operator())
        except (UserFacingError, StorageError) as exc:
            self.error.setText(str(exc))
            return
        message.info(f"Saved reply “{reply.title}” deleted")
        self.reload()
