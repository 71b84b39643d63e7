"""Name/value rows (a tool server's environment or headers), each with Secret and
Remove, for the tool server editor; a refusal wraps under its row."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.theme import ERROR_COLOUR
from console.tool_servers_model import Row

ERROR_STYLE = f"color: {ERROR_COLOUR};"


def error_label() -> QLabel:
    label = QLabel()
    label.setStyleSheet(ERROR_STYLE)
    label.setWordWrap(True)  # a long refusal wraps: it never widens the dialog
    label.hide()
    return label


class RowsEditor(QWidget):
    """Name/value rows (environment or headers), each with Secret and Remove; a refusal
    wraps under its row."""

    def __init__(self, on_change: Callable[[], object], what: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._on_change = on_change
        self._what = what
        self.rows: list[tuple[QLineEdit, QLineEdit, QCheckBox, QLabel, QWidget]] = []
        self._stored: list[str | None] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        self.add_button = QPushButton(f"Add {what}")
        self.add_button.clicked.connect(lambda: self.add(Row()))
        self._layout.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignLeft)

    def add(self, row: Row) -> None:
        key, value = QLineEdit(row.key), QLineEdit(row.value)
        key.setPlaceholderText("name")
        secret = QCheckBox("Secret")
        secret.setToolTip("kept in the keyring; the settings file holds only a reference")
        secret.setChecked(row.secret)
        remove = QPushButton("Remove")
        error = error_label()
        holder = QWidget()
        box = QVBoxLayout(holder)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(1)
        line = QHBoxLayout()
        line.addWidget(key, 2)
        line.addWidget(value, 3)
        line.addWidget(secret)
        line.addWidget(remove)
        box.addLayout(line)
        box.addWidget(error)
        self._layout.insertWidget(self._layout.count() - 1, holder)
        holder.show()  # now, not at the layout's queued show: its refusal is seen at once
        entry = (key, value, secret, error, holder)
        self.rows.append(entry)
        self._stored.append(row.stored)
        self._echo(entry)
        for edit in (key, value):
            edit.textChanged.connect(self._on_change)
        secret.toggled.connect(lambda _on: self._toggled(entry))
        remove.clicked.connect(lambda: self._remove(entry))
        self._on_change()

    def _toggled(self, entry: tuple[QLineEdit, QLineEdit, QCheckBox, QLabel, QWidget]) -> None:
        self._echo(entry)
        self._on_change()

    def _echo(self, entry: tuple[QLineEdit, QLineEdit, QCheckBox, QLabel, QWidget]) -> None:
        _key, value, secret, _error, _holder = entry
        value.setEchoMode(QLineEdit.EchoMode.Password if secret.isChecked()
                          else QLineEdit.EchoMode.Normal)
        stored = self._stored[self.rows.index(entry)]
        value.setPlaceholderText("stored in the keyring; type to replace it"
                                 if stored and secret.isChecked() else "value")

    def _remove(self, entry: tuple[QLineEdit, QLineEdit, QCheckBox, QLabel, QWidget]) -> None:
        i = self.rows.index(entry)
        del self.rows[i], self._stored[i]
        entry[4].deleteLater()
        self._on_change()

    def values(self) -> list[Row]:
        return [Row(key.text(), value.text(), secret.isChecked(),
                    stored if secret.isChecked() else None)
                for (key, value, secret, _e, _h), stored in zip(self.rows, self._stored,
                                                                 strict=True)]

    def show_errors(self, prefix: str, errors: dict[str, str]) -> None:
        for i, (_k, _v, _s, label, _h) in enumerate(self.rows):
            text = errors.get(f"{prefix}.{i}", "")
            label.setText(text)
            label.setVisible(bool(text))
