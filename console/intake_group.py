"""The Settings dialog's "Intake API" group: the HTTP intake hosted in this console
(on or off, address, port), its bearer token, the outcome callbacks (channel ->
webhook URL) and their signing secret, and where it listens now.

It holds what the dialog will apply: the fields' values, which `collect` puts into
the settings the dialog validates, and the secrets' changes waiting for Apply (a
`KeyringSecret` each: typed or generated, or the stored one to remove), which
`store_secrets` writes to the keyring and which are never part of the settings.

Its refusals are keyed like the dialog's fields ("intake.port") and shown under them
by the dialog, which keeps Apply off meanwhile: among them a bind beyond loopback
with no token, which the intake server would refuse to start
(`agentcore.intake.server`), said here before anything is applied.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from agentcore import (
    BackendSafety,
    IntakeSettings,
    KeyringCredentials,
    is_loopback,
)
from console.field_errors import ERROR_STYLE, with_error
from console.intake_host import IntakeHost
from console.keyring_secret import KeyringSecret

OK_STYLE = "color: #2e9e5b;"


class IntakeGroup(QGroupBox):
    changed = Signal()  # a field edited, a secret typed, generated or marked for removal

    def __init__(self, settings: IntakeSettings, credentials: KeyringCredentials,
                 host: IntakeHost | None, parent: QWidget | None = None) -> None:
        super().__init__("Intake API", parent)
        self._credentials = credentials
        self._host = host  # None: a dialog without a console (it then only saves)
        self._keyring = BackendSafety(True, "", "")
        self.errors: dict[str, QLabel] = {}  # the dialog shows the refusals in these
        self.token = KeyringSecret(credentials, settings.token_entry, "token")
        self.callback_secret = KeyringSecret(credentials, settings.callback_secret_entry,
                                             "signing secret")
        self._build()
        self.enabled.setChecked(settings.enabled)
        self.host_edit.setText(settings.host)
        self.port_edit.setText(str(settings.port))
        self.require_token.setChecked(settings.require_token)
        for channel, url in settings.callbacks.items():
            self._add_callback(channel, url)
        self._read_keyring()
        self.show_state()
        self._wire()
        if host is not None and host.attached_via is not None:
            self.enabled.setEnabled(False)
            self.enabled.setToolTip("An attached station hosts no intake: the services "
                                    "answer")
            self.note.setText(f"Not hosted here: this console is an operator station "
                              f"attached to the services, and what it sends goes through "
                              f"their intake at {host.attached_via}. Its settings are "
                              f"kept for when the console runs on its own.")

    # -- construction -----------------------------------------------------------

    def _build(self) -> None:
        self.note = QLabel("Accepts requests over HTTP (POST /v1/requests) while the "
                           "console runs, as `agentcore serve` does. Any address but "
                           "loopback needs the bearer token.")
        self.note.setWordWrap(True)
        self.enabled = QCheckBox("Host the intake in this console")
        self.host_edit = QLineEdit()
        self.host_edit.setPlaceholderText("127.0.0.1: this machine only")
        self.port_edit = QLineEdit()
        self.port_edit.setPlaceholderText("0: any free port")
        self.require_token = QCheckBox("Require the token on loopback too")
        self.store_anyway = QCheckBox()  # only where the keyring would not protect them
        self.store_anyway.hide()
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        where = QFormLayout()
        where.addRow(self.enabled)
        where.addRow("Address", self._with_error("intake.host", self.host_edit))
        where.addRow("Port", self._with_error("intake.port", self.port_edit))
        where.addRow(self.require_token)
        # Two columns, as the dialog's groups above: where it listens | who may call it;
        # then where outcomes go | how they are signed.
        grid = QGridLayout(self)
        grid.addWidget(self.note, 0, 0, 1, 2)
        grid.addLayout(where, 1, 0)
        grid.addLayout(self._secret_column("Bearer token", "intake.token", self.token,
                                           self.store_anyway), 1, 1)
        grid.addLayout(self._callbacks_column(), 2, 0)
        grid.addLayout(self._secret_column("Signing secret", "intake.callback_secret",
                                           self.callback_secret), 2, 1)
        grid.addWidget(self.state, 3, 0, 1, 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)

    def _secret_column(self, label: str, key: str, secret: KeyringSecret,
                       *below: QWidget) -> QVBoxLayout:
        form = QFormLayout()
        form.addRow(label, self._with_error(key, secret))
        column = QVBoxLayout()
        column.addLayout(form)
        # The messages span the column, below the form: a QFormLayout misjudges the
        # height of wrapped labels in spanning rows (as the LLM endpoint group found).
        column.addWidget(secret.status)
        for widget in below:
            column.addWidget(widget)
        column.addStretch(1)
        return column

    def _callbacks_column(self) -> QVBoxLayout:
        self.callbacks = QTableWidget(0, 2)
        self.callbacks.setHorizontalHeaderLabels(("Channel", "Webhook URL"))
        self.callbacks.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.callbacks.verticalHeader().hide()
        header = self.callbacks.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        lines = self.fontMetrics().lineSpacing()
        self.callbacks.setMinimumHeight(lines * 5)
        self.callbacks.setMaximumHeight(lines * 7)
        self.callbacks.setToolTip("Each answered or escalated request of a channel is "
                                  "POSTed to its URL, signed with the secret beside")
        self.add_callback_button = QPushButton("Add callback")
        self.remove_callback_button = QPushButton("Remove")
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_callback_button)
        buttons.addWidget(self.remove_callback_button)
        buttons.addStretch(1)
        column = QVBoxLayout()
        column.addWidget(QLabel("Outcome callbacks"))
        column.addWidget(self._with_error("intake.callbacks", self.callbacks))
        column.addLayout(buttons)
        return column

    def _with_error(self, key: str, widget: QWidget) -> QWidget:
        return with_error(self.errors, key, widget)

    def _wire(self) -> None:
        for edit in (self.host_edit, self.port_edit):
            edit.textChanged.connect(self.changed)
        for box in (self.enabled, self.require_token, self.store_anyway):
            box.toggled.connect(self.changed)
        for secret in (self.token, self.callback_secret):
            secret.changed.connect(self.changed)
        self.callbacks.itemChanged.connect(lambda _item: self.changed.emit())
        self.add_callback_button.clicked.connect(self._add_and_edit)
        self.remove_callback_button.clicked.connect(self._remove_callback)

    # -- callbacks ---------------------------------------------------------------

    def _add_callback(self, channel: str, url: str) -> int:
        row = self.callbacks.rowCount()
        self.callbacks.blockSignals(True)  # one change for the row, not one per cell
        self.callbacks.insertRow(row)
        self.callbacks.setItem(row, 0, QTableWidgetItem(channel))
        self.callbacks.setItem(row, 1, QTableWidgetItem(url))
        self.callbacks.blockSignals(False)
        return row

    def add_callback(self, channel: str = "", url: str = "") -> int:
        row = self._add_callback(channel, url)
        self.changed.emit()
        return row

    def _add_and_edit(self) -> None:
        row = self.add_callback()
        self.callbacks.setCurrentCell(row, 0)
        item = self.callbacks.item(row, 0)
        if item is not None:
            self.callbacks.editItem(item)

    def _remove_callback(self) -> None:
        rows = sorted({index.row() for index in self.callbacks.selectedIndexes()},
                      reverse=True)
        for row in rows or [self.callbacks.currentRow()]:
            if row >= 0:
                self.callbacks.removeRow(row)
        self.changed.emit()

    def _callback_rows(self) -> list[tuple[str, str]]:
        rows = []
        for row in range(self.callbacks.rowCount()):
            cells = (self.callbacks.item(row, col) for col in (0, 1))
            rows.append(tuple(c.text().strip() if c is not None else "" for c in cells))
        return [(channel, url) for channel, url in rows]

    # -- the secrets ---------------------------------------------------------------

    def store_secrets(self, token_entry: str, secret_entry: str) -> bool:
        """Writes the secrets' pending changes to the keyring; whether there were any
        (a running intake then restarts: it reads them at start). UserFacingError: the
        keyring's refusal, and what it did not store is still pending."""
        token = self.token.store(token_entry)
        secret = self.callback_secret.store(secret_entry)
        return token or secret

    def stored(self) -> None:
        """The changes are in the keyring: the fields hold no copy of them."""
        self._read_keyring()

    def _read_keyring(self) -> None:
        self.token.read()
        self.callback_secret.read()
        self._keyring = self._credentials.backend_safety()
        unsafe = not self._keyring.safe and self._keyring.can_store
        self.store_anyway.setText(f"Store them anyway in {self._keyring.name} "
                                  "(not encrypted)")
        self.store_anyway.setVisible(unsafe)
        self.store_anyway.setChecked(False)

    def _secret_problem(self, secret: KeyringSecret) -> str:
        if not secret.pending:
            return ""
        if problem := secret.problem():
            return problem
        if not self._keyring.can_store:
            return (f"not stored: {self._keyring.name} keeps nothing; start a keyring "
                    "service (GNOME Keyring, KWallet) and open Settings again")
        if not self._keyring.safe and not self.store_anyway.isChecked():
            return (f"not stored: {self._keyring.name} would not protect it; tick \"Store "
                    "them anyway\" to store it there regardless")
        return ""

    # -- what the fields describe ----------------------------------------------

    def collect(self, data: dict[str, Any]) -> dict[str, str]:
        """Puts the fields' values into `data["intake"]`; the refusals, by key."""
        intake = data["intake"]
        errors: dict[str, str] = {}
        intake["enabled"] = enabled = self.enabled.isChecked()
        intake["require_token"] = self.require_token.isChecked()
        host = self.host_edit.text().strip()
        if not host:
            errors["intake.host"] = "required: 127.0.0.1 for this machine only"
        elif any(ch.isspace() for ch in host):
            errors["intake.host"] = "an address or host name has no spaces"
        intake["host"] = host
        try:
            port = int(self.port_edit.text().strip())
        except ValueError:
            errors["intake.port"] = "a port number, like 8088 (0: any free one)"
        else:
            if 0 <= port <= 65535:
                intake["port"] = port
            else:
                errors["intake.port"] = "a port from 1 to 65535 (0: any free one)"
        callbacks, problem = _callbacks(self._callback_rows())
        intake["callbacks"] = callbacks
        if problem:
            errors["intake.callbacks"] = problem
        if problem := self._secret_problem(self.token):
            errors["intake.token"] = problem
        elif enabled and not self.token.will_have():
            if host and not is_loopback(host):
                errors["intake.token"] = (
                    f"a token is needed to listen on {host}, which is reachable beyond this "
                    "machine: type or generate one (or use the address 127.0.0.1)")
            elif self.require_token.isChecked():
                errors["intake.token"] = ("\"Require the token\" is ticked and no token is "
                                          "stored: type or generate one")
        if problem := self._secret_problem(self.callback_secret):
            errors["intake.callback_secret"] = problem
        elif enabled and callbacks and not self.callback_secret.will_have():
            errors["intake.callback_secret"] = ("the callbacks are signed with it: type or "
                                                "generate one (or remove the callbacks)")
        return errors

    # -- where it listens ----------------------------------------------------------

    @property
    def failed(self) -> str | None:
        """Why the hosted intake did not start at the last Apply, or None."""
        return self._host.error if self._host is not None else None

    def show_state(self) -> None:
        host = self._host
        if host is None:
            self.state.setText("")
        elif host.attached_via is not None:
            self.state.setStyleSheet("")
            self.state.setText(f"Attached: requests go through {host.attached_via}.")
        elif host.error:
            self.state.setStyleSheet(ERROR_STYLE)
            self.state.setText(f"Did not start: {host.error}")
        elif host.url:
            self.state.setStyleSheet(OK_STYLE)
            self.state.setText(f"Listening on {host.url}")
        else:
            self.state.setStyleSheet("")
            self.state.setText("Not running.")
        self.state.setVisible(bool(self.state.text()))


def _callbacks(rows: list[tuple[str, str]]) -> tuple[dict[str, str], str]:
    """The rows as settings (empty rows skipped), and what is wrong with them, or ""."""
    callbacks: dict[str, str] = {}
    for channel, url in rows:
        if not channel and not url:
            continue
        if not channel:
            return callbacks, f"the callback to {url} needs a channel, like api or chatwoot"
        if channel in callbacks:
            return callbacks, f"the channel {channel!r} has two callbacks: keep one"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return callbacks, (f"the {channel!r} callback needs an http(s) URL, like "
                               "https://desk.example/hooks/agent")
        callbacks[channel] = url
    return callbacks, ""
