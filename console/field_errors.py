"""A settings field with its error label under it, for the Settings dialog's groups:
the label is kept in `errors` by the field's key and shown when validation names it."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

ERROR_STYLE = "color: #d9413a;"


def with_error(errors: dict[str, QLabel], key: str, widget: QWidget) -> QWidget:
    label = QLabel()
    label.setStyleSheet(ERROR_STYLE)
    label.setWordWrap(True)
    label.hide()
    errors[key] = label
    box = QVBoxLayout()
    box.setContentsMargins(0, 0, 0, 0)
    box.setSpacing(1)
    box.addWidget(widget)
    box.addWidget(label)
    holder = QWidget()
    holder.setLayout(box)
    return holder
