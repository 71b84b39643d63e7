"""A secret kept in one keyring entry, as a settings field: whether the entry holds one
(never the secret itself), a masked field to type a new one, Generate (a random one,
copied to the clipboard once, for the operator to hand to the other side) and Remove.

What the operator did waits here until the dialog's Apply calls `store`; the field
then holds no copy. Used by the Intake API group for its bearer token and for the
callbacks' signing secret.
"""

from __future__ import annotations

import secrets

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from agentcore import KeyringCredentials, UserFacingError

MIN_CHARS = 16  # a secret the other side could guess is no secret


class KeyringSecret(QWidget):
    changed = Signal()  # typed, generated or marked for removal

    def __init__(self, credentials: KeyringCredentials, entry: str, what: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._credentials = credentials
        self.entry = entry
        self._what = what  # "token", "signing secret": how the messages name it
        self.removing = False  # the stored one is deleted on Apply
        self.is_stored = False  # read from the keyring on open and after Apply
        self._unreadable = ""  # why the keyring could not be read, if it could not
        self.edit = QLineEdit()
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.generate_button = QPushButton("Generate")
        self.generate_button.setToolTip(f"A random {what}, copied to the clipboard once")
        self.remove_button = QPushButton("Remove stored")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.generate_button)
        row.addWidget(self.remove_button)
        # Placed by the group, spanning its column: a wrapped label in a form row is
        # given too little height.
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.edit.textEdited.connect(self._typed)
        self.generate_button.clicked.connect(self.generate)
        self.remove_button.clicked.connect(self.remove)
        self.read()

    @property
    def pending(self) -> str:
        return self.edit.text().strip()

    def will_have(self) -> bool:
        """Whether the entry holds a secret once Apply stored what waits here."""
        return bool(self.pending) or (self.is_stored and not self.removing)

    def problem(self) -> str:
        """Why the secret typed cannot be taken, or ""."""
        secret = self.pending
        if not secret:
            return ""
        if any(ch.isspace() for ch in secret):
            return f"a {self._what} has no spaces or line breaks"
        if len(secret) < MIN_CHARS:
            return (f"at least {MIN_CHARS} characters, so it cannot be guessed "
                    "(Generate makes one)")
        return ""

    def _typed(self, _text: str) -> None:
        self.removing = False  # a new one replaces the stored one instead
        self._show()
        self.changed.emit()

    def generate(self) -> str:
        """A random secret in the field (masked) and in the clipboard, stored on Apply."""
        secret = secrets.token_urlsafe(32)
        self.edit.setText(secret)
        QGuiApplication.clipboard().setText(secret)
        self.removing = False
        self._show(generated=True)
        self.changed.emit()
        return secret

    def remove(self) -> None:
        self.edit.clear()
        self.removing = True
        self._show()
        self.changed.emit()

    def store(self, entry: str) -> bool:
        """Writes what waits to the keyring; whether anything did (a running server then
        restarts: it reads its secrets at start). UserFacingError: the keyring's refusal."""
        self.entry = entry
        if self.pending:
            self._credentials.set(entry, self.pending)
        elif self.removing:
            self._credentials.delete(entry)
        else:
            return False
        return True

    def read(self) -> None:
        """The keyring's state again; the field holds no copy of what was stored."""
        self.edit.clear()
        self.removing = False
        self._unreadable = ""
        try:
            self.is_stored = bool(self._credentials.get(self.entry))
        except UserFacingError as exc:
            self.is_stored = False
            self._unreadable = str(exc)
        self._show()

    def _show(self, *, generated: bool = False) -> None:
        what, entry = self._what, repr(self.entry)
        replacing = ", replacing the stored one." if self.is_stored else "."
        if generated:
            text = (f"A new {what} is in the clipboard (copied once, shown nowhere): give "
                    f"it to the other side now. Apply stores it in the keyring{replacing}")
        elif self.pending:
            text = f"Apply stores this {what} in the keyring{replacing}"
        elif self.removing:
            text = f"Apply removes the {what} from the keyring entry {entry}."
        elif self.is_stored:
            text = f"A {what} is stored in the keyring (entry {entry})."
        elif self._unreadable:
            text = f"No {what}: {self._unreadable.rstrip('.')}."
        else:
            text = f"No {what} is stored (keyring entry {entry})."
        self.status.setText(text)
        self.edit.setPlaceholderText("stored; type to replace it"
                                     if self.is_stored and not self.removing else "none stored")
        self.remove_button.setEnabled(self.is_stored and not self.removing)
