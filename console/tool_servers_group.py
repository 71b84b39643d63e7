"""The Settings dialog's "Tool servers" group: the servers (name, transport, enabled),
Add / Edit / Remove, each edited in a `ToolServerEditor`.

It holds what the dialog will apply: the configs, and the secrets typed in the
editors, which wait here (never in the settings) until the dialog's Apply stores
them in the keyring. The editor is opened with `open()`, never `exec()`: a nested
event loop would re-enter the qasync loop the Test runs on.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from agentcore import ToolServerConfig
from console.tool_server_editor import ToolServerEditor
from console.tool_servers_model import Secret, Tester


class ToolServersGroup(QGroupBox):
    changed = Signal()  # a server added, edited or removed

    def __init__(self, configs: list[ToolServerConfig], tester: Tester, stored: Secret,
                 parent: QWidget | None = None) -> None:
        super().__init__("Tool servers", parent)
        self.configs = list(configs)
        self.secrets: dict[str, str] = {}  # keyring entry -> value, stored on Apply
        self._tester = tester
        self._stored = stored
        self.editor: ToolServerEditor | None = None
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(("Name", "Transport", "Enabled", "Starts"))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMaximumHeight(self.fontMetrics().lineSpacing() * 9)
        self.note = QLabel("MCP servers whose tools the agent offers beside the domain's. "
                           "Their secrets go to the keyring, never to the settings file.")
        self.note.setWordWrap(True)
        self.add_button = QPushButton("Add…")
        self.edit_button = QPushButton("Edit…")
        self.remove_button = QPushButton("Remove")
        buttons = QHBoxLayout()
        for button in (self.add_button, self.edit_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.add_button.clicked.connect(lambda: self.open_editor(None))
        self.edit_button.clicked.connect(lambda: self.open_editor(self.selected()))
        self.remove_button.clicked.connect(self.remove_selected)
        self.table.itemSelectionChanged.connect(self._enable)
        self.table.cellDoubleClicked.connect(lambda row, _col: self.open_editor(row))
        self._show()

    def selected(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def _enable(self) -> None:
        chosen = self.selected() is not None
        self.edit_button.setEnabled(chosen)
        self.remove_button.setEnabled(chosen)

    def _show(self) -> None:
        self.table.setRowCount(len(self.configs))
        for row, config in enumerate(self.configs):
            starts = (config.url or "") if config.transport == "http" else " ".join(
                [config.command or "", *config.args])
            for column, text in enumerate((config.name, "stdio" if config.transport ==
                                           "stdio" else "Streamable HTTP",
                                           "yes" if config.enabled else "no", starts)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, column, item)
        self.table.setMinimumHeight(self.fontMetrics().lineSpacing() * 4)
        self._enable()

    def open_editor(self, row: int | None) -> ToolServerEditor:
        config = self.configs[row] if row is not None else None
        taken = [c.name for i, c in enumerate(self.configs) if i != row]
        editor = ToolServerEditor(config, self._tester, self._secret, taken=taken,
                                  parent=self)
        editor.accepted.connect(lambda: self._edited(row, editor))
        editor.finished.connect(lambda _result: editor.deleteLater())
        self.editor = editor
        editor.open()
        return editor

    def _secret(self, entry: str) -> str | None:
        # A secret typed in an earlier editor but not yet applied tests as it will run.
        return self.secrets[entry] if entry in self.secrets else self._stored(entry)

    def _edited(self, row: int | None, editor: ToolServerEditor) -> None:
        config = editor.built.config
        if config is None:
            return
        if row is None:
            self.configs.append(config)
        else:
            self.configs[row] = config
        self.secrets.update(editor.built.secrets)
        self._show()
        self.changed.emit()

    def remove_selected(self) -> None:
        row = self.selected()
        if row is None:
            return
        del self.configs[row]
        self._show()
        self.changed.emit()

    def stored(self) -> None:
        """The dialog stored the pending secrets in the keyring."""
        self.secrets.clear()
