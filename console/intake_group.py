"""The Settings dialog's "Intake API" group: the HTTP intake hosted in this console
(on or off, address, port), its bearer token, and where it listens now.

It holds what the dialog will apply: the fields' values, which `collect` puts into
the settings the dialog validates, and a change of token waiting for Apply (one typed
or generated, or the stored one to remove), which `store_token` writes to the keyring
and which is never part of the settings. The token itself is never shown: the group
says only whether the keyring holds one; a generated token goes to the clipboard once,
for the operator to hand to the callers.

Its refusals are keyed like the dialog's fields ("intake.port") and shown under them
by the dialog, which keeps Apply off meanwhile: among them a bind beyond loopback
with no token, which the intake server would refuse to start
(`agentcore.intake.server`), said here before anything is applied.
"""

from __future__ import annotations

import secrets
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from agentcore import (
    BackendSafety,
    IntakeSettings,
    KeyringCredentials,
    UserFacingError,
    is_loopback,
)
from console.intake_host import IntakeHost

ERROR_STYLE = "color: #d9413a;"
OK_STYLE = "color: #2e9e5b;"
TOKEN_MIN_CHARS = 16  # a bearer token a caller could guess is no token
KEYS = ("intake.host", "intake.port", "intake.token")  # where its refusals are shown


class IntakeGroup(QGroupBox):
    changed = Signal()  # a field edited, a token typed, generated or marked for removal

    def __init__(self, settings: IntakeSettings, credentials: KeyringCredentials,
                 host: IntakeHost | None, parent: QWidget | None = None) -> None:
        super().__init__("Intake API", parent)
        self._credentials = credentials
        self._host = host  # None: a dialog without a console (it then only saves)
        self._entry = settings.token_entry
        self.removing = False  # the stored token is deleted on Apply
        self.token_stored = False  # read from the keyring on open and after Apply
        self._unreadable = ""  # why the keyring could not be read, if it could not
        self._keyring = BackendSafety(True, "", "")
        self.errors: dict[str, QLabel] = {}
        self._build()
        self.enabled.setChecked(settings.enabled)
        self.host_edit.setText(settings.host)
        self.port_edit.setText(str(settings.port))
        self.require_token.setChecked(settings.require_token)
        self._read_keyring()
        self.show_state()
        self._wire()

    # -- construction -----------------------------------------------------------

    def _build(self) -> None:
        self.note = QLabel("Accepts requests over HTTP (POST /v1/requests) while the "
                           "console runs; the same intake as `agentcore serve`.")
        self.note.setWordWrap(True)
        self.enabled = QCheckBox("Host the intake in this console")
        self.host_edit = QLineEdit()
        self.host_edit.setPlaceholderText("127.0.0.1: this machine only")
        self.port_edit = QLineEdit()
        self.port_edit.setPlaceholderText("0: any free port")
        self.require_token = QCheckBox("Require the token on loopback too")
        self.token_edit = QLineEdit()
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.generate_button = QPushButton("Generate")
        self.generate_button.setToolTip("A random token, copied to the clipboard once")
        self.remove_button = QPushButton("Remove stored")
        token_row = QHBoxLayout()
        token_row.setContentsMargins(0, 0, 0, 0)
        token_row.addWidget(self.token_edit, 1)
        token_row.addWidget(self.generate_button)
        token_row.addWidget(self.remove_button)
        token_holder = QWidget()
        token_holder.setLayout(token_row)
        self.token_status = QLabel()
        self.token_status.setWordWrap(True)
        self.store_anyway = QCheckBox()  # only where the keyring would not protect it
        self.store_anyway.hide()
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # Two columns, as the dialog's groups above it: where it listens, and the token.
        where = QFormLayout()
        where.addRow(self.enabled)
        where.addRow("Address", self._with_error("intake.host", self.host_edit))
        where.addRow("Port", self._with_error("intake.port", self.port_edit))
        where.addRow(self.require_token)
        token = QFormLayout()
        token.addRow("Bearer token", self._with_error("intake.token", token_holder))
        token_column = QVBoxLayout()
        token_column.addLayout(token)
        # The messages span the column, below the form: a QFormLayout misjudges the
        # height of wrapped labels in spanning rows (as the LLM endpoint group found).
        token_column.addWidget(self.token_status)
        token_column.addWidget(self.store_anyway)
        token_column.addStretch(1)
        grid = QGridLayout(self)
        grid.addWidget(self.note, 0, 0, 1, 2)
        grid.addLayout(where, 1, 0)
        grid.addLayout(token_column, 1, 1)
        grid.addWidget(self.state, 2, 0, 1, 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)

    def _with_error(self, key: str, widget: QWidget) -> QWidget:
        label = QLabel()
        label.setStyleSheet(ERROR_STYLE)
        label.setWordWrap(True)
        label.hide()
        self.errors[key] = label
        box = QVBoxLayout()
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(1)
        box.addWidget(widget)
        box.addWidget(label)
        holder = QWidget()
        holder.setLayout(box)
        return holder

    def _wire(self) -> None:
        for edit in (self.host_edit, self.port_edit):
            edit.textChanged.connect(self.changed)
        for box in (self.enabled, self.require_token, self.store_anyway):
            box.toggled.connect(self.changed)
        self.token_edit.textEdited.connect(self._typed)
        self.generate_button.clicked.connect(self.generate)
        self.remove_button.clicked.connect(self.remove)

    # -- the token ----------------------------------------------------------------

    @property
    def pending_token(self) -> str:
        return self.token_edit.text().strip()

    def _typed(self, _text: str) -> None:
        self.removing = False  # a new token replaces the stored one instead
        self._show_token_status()
        self.changed.emit()

    def generate(self) -> str:
        """A random token in the field (masked) and in the clipboard, stored on Apply."""
        token = secrets.token_urlsafe(32)
        self.token_edit.setText(token)
        QGuiApplication.clipboard().setText(token)
        self.removing = False
        self._show_token_status(generated=True)
        self.changed.emit()
        return token

    def remove(self) -> None:
        self.token_edit.clear()
        self.removing = True
        self._show_token_status()
        self.changed.emit()

    def store_token(self, credentials: KeyringCredentials, entry: str) -> bool:
        """Writes the pending change to the keyring; whether there was one (a running
        intake then restarts: it reads its token at start). UserFacingError: the
        keyring's refusal."""
        self._entry = entry
        token = self.pending_token
        if token:
            credentials.set(entry, token)
        elif self.removing:
            credentials.delete(entry)
        else:
            return False
        return True

    def stored(self) -> None:
        """The pending change is in the keyring: the field holds no copy of it."""
        self.token_edit.clear()
        self.removing = False
        self._read_keyring()

    def _read_keyring(self) -> None:
        self._unreadable = ""
        try:
            self.token_stored = bool(self._credentials.get(self._entry))
        except UserFacingError as exc:
            self.token_stored = False
            self._unreadable = str(exc)
        self._keyring = self._credentials.backend_safety()
        unsafe = not self._keyring.safe and self._keyring.can_store
        self.store_anyway.setText(f"Store the token anyway in {self._keyring.name} "
                                  "(not encrypted)")
        self.store_anyway.setVisible(unsafe)
        self.store_anyway.setChecked(False)
        self._show_token_status()

    def _show_token_status(self, *, generated: bool = False) -> None:
        entry = repr(self._entry)
        if generated:
            text = ("A new token is in the clipboard (copied once, shown nowhere): give it "
                    "to the callers now. Apply stores it in the keyring"
                    + (", replacing the stored one." if self.token_stored else "."))
        elif self.pending_token:
            text = ("Apply stores this token in the keyring"
                    + (", replacing the stored one." if self.token_stored else "."))
        elif self.removing:
            text = f"Apply removes the token from the keyring entry {entry}."
        elif self.token_stored:
            text = f"A token is stored in the keyring (entry {entry})."
        elif self._unreadable:
            text = (f"No token: {self._unreadable.rstrip('.')}. Callers on loopback "
                    "need none; any other address needs one.")
        else:
            text = (f"No token is stored (keyring entry {entry}): callers on loopback "
                    "need none; any other address needs one.")
        self.token_status.setText(text)
        self.token_edit.setPlaceholderText("stored; type to replace it" if self.token_stored
                                           and not self.removing else "none stored")
        self.remove_button.setEnabled(self.token_stored and not self.removing)

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
        port_text = self.port_edit.text().strip()
        try:
            port = int(port_text)
        except ValueError:
            errors["intake.port"] = "a port number, like 8088 (0: any free one)"
        else:
            if 0 <= port <= 65535:
                intake["port"] = port
            else:
                errors["intake.port"] = "a port from 1 to 65535 (0: any free one)"
        token_problem = self._token_problem()
        if token_problem:
            errors["intake.token"] = token_problem
        elif enabled and not (self.pending_token or (self.token_stored and not self.removing)):
            if host and not is_loopback(host):
                errors["intake.token"] = (
                    f"a token is needed to listen on {host}, which is reachable beyond this "
                    "machine: type or generate one (or use the address 127.0.0.1)")
            elif self.require_token.isChecked():
                errors["intake.token"] = ("\"Require the token\" is ticked and no token is "
                                          "stored: type or generate one")
        return errors

    def _token_problem(self) -> str:
        token = self.pending_token
        if not token:
            return ""
        if any(ch.isspace() for ch in token):
            return "a token has no spaces or line breaks"
        if len(token) < TOKEN_MIN_CHARS:
            return (f"at least {TOKEN_MIN_CHARS} characters, so a caller cannot guess it "
                    "(Generate makes one)")
        if not self._keyring.can_store:
            return (f"not stored: {self._keyring.name} keeps nothing; start a keyring "
                    "service (GNOME Keyring, KWallet) and open Settings again")
        if not self._keyring.safe and not self.store_anyway.isChecked():
            return (f"not stored: {self._keyring.name} would not protect it; tick \"Store "
                    "the token anyway\" to store it there regardless")
        return ""

    # -- where it listens ----------------------------------------------------------

    @property
    def failed(self) -> str | None:
        """Why the hosted intake did not start at the last Apply, or None."""
        return self._host.error if self._host is not None else None

    def show_state(self) -> None:
        host = self._host
        if host is None:
            self.state.setText("")
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
