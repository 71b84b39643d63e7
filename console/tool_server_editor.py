"""The editor of one tool server, opened from the Settings dialog's "Tool servers" group.

A view of `console.tool_servers_model.Draft`: every edit goes into the draft and
`build` says, beside each field, what the config refuses (a plaintext secret, a
bad name, a URL without a host). "Test" runs the injected tester on the qasync
loop through `ServerTest`: the dialog stays live while a server hangs, says "no
answer within N s" when it does, and Cancel stops waiting. The Test table shows
each tool as the LLM would see it; selecting one lets the operator mark it read
or write, give a write its policy and mark a read public (offered to requests
without a customer), which go to the config's `kinds`, `writes` and `public`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from agentcore import ToolServerConfig
from console.rows_editor import ERROR_STYLE, RowsEditor, error_label
from console.table_model import HeaderedTableModel, Index
from console.tool_servers_model import (
    Built,
    Draft,
    Policy,
    Secret,
    ServerTest,
    Tester,
    TestState,
    ToolRow,
    build,
    policy_of,
    set_kind,
    set_policy,
    set_public,
    tool_rows,
)


class ToolRowsModel(HeaderedTableModel):
    """The Test table: one row per tool, over `tool_rows`."""

    def __init__(self) -> None:
        super().__init__(("Tool, as the LLM sees it", "Description", "Reads or writes",
                          "Policy", "Schema"))
        self.rows: list[ToolRow] = []

    def set_rows(self, rows: list[ToolRow]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            text = cell(row, index.column())
            if role == Qt.ItemDataRole.ToolTipRole and index.column() == 4 and row.problems:
                return "\n".join(row.problems)
            return text
        return None


def cell(row: ToolRow, column: int) -> str:
    if column == 0:
        hidden = "" if row.offered else " (not offered)"
        return row.llm_name + hidden if row.listed else f"{row.llm_name} (not listed)"
    if column == 1:
        return row.description
    if column == 2:
        return f"{'writes' if row.writes else 'reads'} ({row.why})"
    if column == 3:
        return row.policy
    if not row.usable:
        return "unusable: " + "; ".join(row.problems)
    return "usable" + (f", cleaned: {'; '.join(row.problems)}" if row.problems else "")


_KINDS: tuple[tuple[str, Literal["read", "write"] | None], ...] = (
    ("as the server says", None), ("read", "read"), ("write", "write"))
_POLICIES = ((Policy.ASK, "asks (an operator approves every call)"),
             (Policy.SERVER, "the server's own policy, in words"),
             (Policy.LIMITS, "limits on named arguments (JSON)"))


class ToolServerEditor(QDialog):
    """Edits one server. `taken`: the other servers' names. `accepted` leaves the
    result in `built` (its config and the secrets to store)."""

    def __init__(self, config: ToolServerConfig | None, tester: Tester, stored: Secret, *,
                 taken: Collection[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Tool server" if config is None else f"Tool server {config.name}")
        self.draft = Draft.of(config)
        self._taken = set(taken)
        self.built = Built(None, {}, {})
        self.test = ServerTest(tester, stored, on_change=self._show_test)
        self._filling = True
        self._build()
        self._fill()
        self._wire()
        self._filling = False
        self.validate()

    # -- construction -------------------------------------------------------------

    def _build(self) -> None:
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.errors: dict[str, QLabel] = {k: error_label() for k in (
            "name", "command", "cwd", "url", "allow", "prefix", "timeout_s",
            "start_timeout_s")}
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. crm: names its tools (crm__search) and its state")
        form.addRow("Name", self._with_error(self.name, "name"))
        self.enabled = QCheckBox("Enabled: the agent offers its tools")
        form.addRow("", self.enabled)
        self.stdio = QRadioButton("stdio: start a command")
        self.http = QRadioButton("Streamable HTTP: connect to a URL")
        transports = QButtonGroup(self)
        transports.addButton(self.stdio)
        transports.addButton(self.http)
        line = QHBoxLayout()
        line.addWidget(self.stdio)
        line.addWidget(self.http)
        line.addStretch(1)
        form.addRow("Transport", line)

        self.command = QLineEdit()
        self.command.setPlaceholderText("e.g. python, npx, /opt/crm/mcp-server")
        self.args = QPlainTextEdit()
        self.args.setPlaceholderText("one argument per line")
        self.args.setFixedHeight(self.fontMetrics().lineSpacing() * 3 + 12)
        self.env = RowsEditor(self.validate, "variable")
        self.cwd = QLineEdit()
        self.cwd.setPlaceholderText("empty: the console's own; else the whole path, e.g. "
                                    "/opt/crm")
        self.choose_cwd = QPushButton("Choose…")
        folder = QHBoxLayout()
        folder.setContentsMargins(0, 0, 0, 0)
        folder.addWidget(self._with_error(self.cwd, "cwd"), 1)
        folder.addWidget(self.choose_cwd, 0, Qt.AlignmentFlag.AlignTop)
        folder_row = QWidget()
        folder_row.setLayout(folder)
        # The transport's rows sit in the one form (aligned with the rest) and are
        # shown or hidden as rows: `_transport_rows` by transport.
        self._transport_rows: dict[str, list[QWidget]] = {"stdio": [], "http": []}
        for label, widget in (("Command", self._with_error(self.command, "command")),
                              ("Arguments", self.args), ("Environment", self.env),
                              ("Working folder", folder_row)):
            form.addRow(label, widget)
            self._transport_rows["stdio"].append(widget)

        self.url = QLineEdit()
        self.url.setPlaceholderText("e.g. http://127.0.0.1:8765/mcp")
        self.headers = RowsEditor(self.validate, "header")
        for label, widget in (("URL", self._with_error(self.url, "url")),
                              ("Headers", self.headers)):
            form.addRow(label, widget)
            self._transport_rows["http"].append(widget)
        self._form = form

        self.allow = QLineEdit()
        self.allow.setPlaceholderText("empty: all its tools; else their own names, e.g. "
                                      "search, get_order")
        form.addRow("Allow list", self._with_error(self.allow, "allow"))
        self.prefix = QLineEdit()
        self.no_prefix = QCheckBox("none: the server's own names")
        self.no_prefix.setToolTip("a tool named like one of the domain's may then clash "
                                  "with it")
        names = QHBoxLayout()
        names.addWidget(self._with_error(self.prefix, "prefix"), 1)
        names.addWidget(self.no_prefix, 0, Qt.AlignmentFlag.AlignTop)
        form.addRow("Tool name prefix", names)
        self.timeout = QLineEdit()
        self.start_timeout = QLineEdit()
        self.start_timeout.setToolTip("to start, connect and list its tools; the Test "
                                      "waits as long, and a few seconds more")
        timeouts = QHBoxLayout()
        timeouts.addWidget(QLabel("per call"))
        timeouts.addWidget(self._with_error(self.timeout, "timeout_s"), 1)
        timeouts.addWidget(QLabel("to start"))
        timeouts.addWidget(self._with_error(self.start_timeout, "start_timeout_s"), 1)
        form.addRow("Timeouts (s)", timeouts)
        self.general_error = error_label()
        form.addRow(self.general_error)

        fields = QWidget()
        fields.setLayout(form)
        self.fields_area = QScrollArea()
        self.fields_area.setWidgetResizable(True)
        self.fields_area.setFrameShape(QFrame.Shape.NoFrame)
        self.fields_area.setWidget(fields)

        self.test_button = QPushButton("Test")
        self.test_button.setToolTip("connect, list its tools, close")
        self.cancel_test_button = QPushButton("Cancel test")
        self.test_status = QLabel("Test connects and lists the server's tools.")
        self.test_status.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.test_button)
        top.addWidget(self.cancel_test_button)
        top.addWidget(self.test_status, 1)
        self.tools = ToolRowsModel()
        self.table = QTableView()
        self.table.setModel(self.tools)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(True)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((190, 230, 150, 190)):
            self.table.setColumnWidth(column, width)
        self.table.verticalHeader().hide()
        # A wrapped description or problem gets the lines it needs at the column's width.
        header.sectionResized.connect(lambda *_a: self.table.resizeRowsToContents())

        self.mark_kind = QComboBox()
        for text, _kind in _KINDS:
            self.mark_kind.addItem(text)
        self.mark_policy = QComboBox()
        for _policy, text in _POLICIES:
            self.mark_policy.addItem(text)
        self.policy_text = QLineEdit()
        self.policy_text.setPlaceholderText('e.g. {"amount": {"max": 50}}')
        self.policy_error = error_label()
        self.mark_public = QCheckBox("Public: touches no customer's records, so requests "
                                     "without a customer are offered it too")
        self.mark_public.setToolTip("reads only; a public read answers anonymous requests: "
                                    "mark only what anyone may see (FAQ, opening hours)")
        self.mark_title = QLabel("Select a tool to mark it read or write and set its policy.")
        self.mark_title.setWordWrap(True)
        marks = QHBoxLayout()
        marks.addWidget(QLabel("Reads or writes"))
        marks.addWidget(self.mark_kind)
        marks.addWidget(QLabel("Policy"))
        marks.addWidget(self.mark_policy)
        marks.addWidget(self.policy_text, 1)
        test_box = QWidget()
        test_layout = QVBoxLayout(test_box)
        test_layout.setContentsMargins(0, 0, 0, 0)
        test_layout.addLayout(top)
        test_layout.addWidget(self.table, 1)
        test_layout.addWidget(self.mark_title)
        test_layout.addLayout(marks)
        test_layout.addWidget(self.mark_public)
        test_layout.addWidget(self.policy_error)

        # The fields and the Test share the height: on a 700-px screen neither is lost.
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.fields_area)
        self.splitter.addWidget(test_box)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)  # the Test's table is what needs the room
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        layout = QVBoxLayout(self)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.buttons)
        self.resize(920, 640)

    def _with_error(self, widget: QWidget, key: str) -> QWidget:
        holder = QWidget()
        box = QVBoxLayout(holder)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(1)
        box.addWidget(widget)
        box.addWidget(self.errors[key])
        return holder

    def _fill(self) -> None:
        d = self.draft
        self.name.setText(d.name)
        self.enabled.setChecked(d.enabled)
        (self.stdio if d.transport == "stdio" else self.http).setChecked(True)
        self.command.setText(d.command)
        self.args.setPlainText(d.args)
        for row in d.env:
            self.env.add(row)
        self.url.setText(d.url)
        for row in d.headers:
            self.headers.add(row)
        self.allow.setText(d.allow)
        self.cwd.setText(d.cwd)
        self.prefix.setText(d.prefix)
        self.no_prefix.setChecked(d.no_prefix)
        self.timeout.setText(d.timeout_s)
        self.start_timeout.setText(d.start_timeout_s)
        self._show_rows()

    def _wire(self) -> None:
        for edit in (self.name, self.command, self.url, self.allow, self.timeout,
                     self.start_timeout, self.cwd, self.prefix):
            edit.textChanged.connect(self.validate)
        self.args.textChanged.connect(self.validate)
        self.enabled.toggled.connect(self.validate)
        self.no_prefix.toggled.connect(self.validate)
        self.choose_cwd.clicked.connect(self._choose_cwd)
        self.mark_public.toggled.connect(lambda _on: self._mark())
        self.stdio.toggled.connect(self.validate)
        self.test_button.clicked.connect(self.start_test)
        self.cancel_test_button.clicked.connect(self.test.cancel)
        self.table.selectionModel().currentRowChanged.connect(lambda _n, _o: self._show_mark())
        self.mark_kind.currentIndexChanged.connect(lambda _i: self._mark())
        self.mark_policy.currentIndexChanged.connect(lambda _i: self._mark())
        self.policy_text.textChanged.connect(lambda _t: self._mark())
        self.ok_button.clicked.connect(self._accept)
        self.buttons.rejected.connect(self.reject)

    # -- the draft ------------------------------------------------------------------

    def validate(self) -> ToolServerConfig | None:
        if self._filling:
            return None
        d = self.draft
        d.name, d.enabled = self.name.text(), self.enabled.isChecked()
        d.transport = "stdio" if self.stdio.isChecked() else "http"
        d.command, d.args = self.command.text(), self.args.toPlainText()
        d.env, d.url, d.headers = self.env.values(), self.url.text(), self.headers.values()
        d.allow, d.cwd = self.allow.text(), self.cwd.text()
        d.prefix, d.no_prefix = self.prefix.text(), self.no_prefix.isChecked()
        self.prefix.setEnabled(not d.no_prefix)
        self.prefix.setPlaceholderText(f"empty: {d.name.strip() or 'the name'}__, as in "
                                       f"{d.name.strip() or 'crm'}__search")
        d.timeout_s, d.start_timeout_s = self.timeout.text(), self.start_timeout.text()
        for transport, widgets in self._transport_rows.items():
            for widget in widgets:
                self._form.setRowVisible(widget, transport == d.transport)
        built = build(d)
        errors = dict(built.errors)
        if d.name.strip() in self._taken:
            errors["name"] = f"another server is called {d.name.strip()}"
        self.built = Built(built.config if not errors else None, errors, built.secrets)
        for key, label in self.errors.items():
            label.setText(errors.get(key, ""))
            label.setVisible(key in errors)
        self.general_error.setText(errors.get("", ""))
        self.general_error.setVisible("" in errors)
        self.env.show_errors("env", errors)
        self.headers.show_errors("headers", errors)
        self.ok_button.setEnabled(self.built.config is not None)
        self.test_button.setEnabled(self.built.config is not None and not self.test.running)
        return self.built.config

    def _accept(self) -> None:
        if self.validate() is not None:
            self.test.cancel()
            self.accept()

    def done(self, result: int) -> None:
        self.test.cancel()  # nobody is left to read its answer
        super().done(result)

    # -- the Test -------------------------------------------------------------------

    def start_test(self) -> None:
        config = self.validate()
        if config is not None:
            self.test.start(config, self.built.secrets)

    def _show_test(self) -> None:
        state = self.test.state
        self.test_status.setText(self.test.message)
        failed = state in (TestState.NO_ANSWER, TestState.ERROR) or (
            state is TestState.DONE and self.test.report is not None
            and str(self.test.report.state) != "ready")
        self.test_status.setStyleSheet(ERROR_STYLE if failed else "")
        self.cancel_test_button.setEnabled(self.test.running)
        self.test_button.setEnabled(self.built.config is not None and not self.test.running)
        self._show_rows()

    def _show_rows(self) -> None:
        current = self.table.currentIndex().row() if hasattr(self, "table") else -1
        self.tools.set_rows(tool_rows(self.draft, self.test.report))
        self.cancel_test_button.setEnabled(self.test.running)
        if 0 <= current < len(self.tools.rows):
            self.table.selectRow(current)
        self.table.resizeRowsToContents()
        self._show_mark()

    def _selected(self) -> ToolRow | None:
        row = self.table.currentIndex().row()
        return self.tools.rows[row] if 0 <= row < len(self.tools.rows) else None

    def _show_mark(self) -> None:
        tool = self._selected()
        for widget in (self.mark_kind, self.mark_policy, self.policy_text, self.mark_public):
            widget.setEnabled(tool is not None)
            widget.blockSignals(True)
        if tool is not None:
            self.mark_title.setText(f"{tool.tool}: {cell(tool, 2)}; {tool.policy}")
            kind = self.draft.kinds.get(tool.tool)
            self.mark_kind.setCurrentIndex([k for _t, k in _KINDS].index(kind))
            policy, text = policy_of(self.draft, tool.tool)
            self.mark_policy.setCurrentIndex([p for p, _t in _POLICIES].index(policy))
            self.mark_policy.setEnabled(tool.writes)
            if not self.policy_text.hasFocus():
                self.policy_text.setText(text)
            self._policy_hint(policy)
            self.policy_text.setEnabled(tool.writes and policy is not Policy.ASK)
            self.mark_public.setChecked(tool.public)
            self.mark_public.setEnabled(not tool.writes)
        for widget in (self.mark_kind, self.mark_policy, self.policy_text, self.mark_public):
            widget.blockSignals(False)

    def _policy_hint(self, policy: Policy) -> None:
        self.policy_text.setEnabled(policy is not Policy.ASK)
        self.policy_text.setPlaceholderText(
            'e.g. {"amount": {"max": 50}}' if policy is Policy.LIMITS
            else "e.g. refunds over $50 need a supervisor's token" if policy is Policy.SERVER
            else "")

    def _mark(self) -> None:
        tool = self._selected()
        if tool is None:
            return
        # Public first: a tool just marked a write is taken off the public reads.
        set_public(self.draft, tool.tool, self.mark_public.isChecked())
        set_kind(self.draft, tool.tool, _KINDS[self.mark_kind.currentIndex()][1])
        policy = _POLICIES[self.mark_policy.currentIndex()][0]
        self._policy_hint(policy)
        refusal = set_policy(self.draft, tool.tool, policy, self.policy_text.text())
        self.policy_error.setText(refusal)
        self.policy_error.setVisible(bool(refusal))
        if not refusal:
            self._show_rows()
            self.validate()

    def _choose_cwd(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "The folder the server starts in",
                                                  self.cwd.text().strip())
        if chosen:
            self.cwd.setText(chosen)
