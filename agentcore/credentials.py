"""API keys live in the OS keyring and nowhere else (not SQLite, settings, logs or traces).

"The keyring" is whichever backend the `keyring` package picked. Where no OS
keyring service runs, that can be one that encrypts nothing (keyrings.alt's
PlaintextKeyring writes the key base64-encoded to a file) or keeps nothing
(`fail`, `null`); `backend_safety` tells those apart so the settings dialog can
say so before a key goes there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from agentcore.errors import SettingsError
from agentcore.redaction import redact, register_secret

log = logging.getLogger("agentcore.credentials")

SERVICE = "agent-console"

# keyring's own backends that keep nothing. keyrings.alt's all keep keys in files or
# places without the OS's protection (PlaintextKeyring: base64 in a file; its
# EncryptedKeyring asks for a password on a terminal a desktop app does not have).
_KEEPS_NOTHING = {
    "keyring.backends.fail.Keyring": "no keyring service is available, so a key cannot "
                                     "be stored",
    "keyring.backends.null.Keyring": "the keyring is switched off, so a stored key is "
                                     "thrown away",
}
_UNPROTECTED_PACKAGE = "keyrings.alt"


@dataclass(frozen=True, slots=True)
class BackendSafety:
    """Whether a key stored now is protected by the OS, and in words why not."""

    safe: bool
    name: str  # the backend, as an operator can look it up: "PlaintextKeyring", "null.Keyring"
    description: str  # one sentence for the operator; empty when safe
    can_store: bool = True  # False: it keeps nothing, so insisting would not store a key


def _name(kind: type) -> str:
    # keyring's backends are mostly all called "Keyring": their module tells them apart.
    module = kind.__module__.rpartition(".")[2]
    return f"{module}.{kind.__name__}" if kind.__name__ == "Keyring" else kind.__name__


def classify_backend(backend: Any) -> BackendSafety:
    """The safety of a keyring backend. A chainer (keyring's ChainerBackend: anything
    with a list of `backends`) is as safe as the one it writes to, the first of its
    list: one offering only plaintext or null backends is not safe."""
    chained = getattr(backend, "backends", None)
    if isinstance(chained, list | tuple):
        if not chained:
            return BackendSafety(False, _name(type(backend)), _KEEPS_NOTHING[
                "keyring.backends.fail.Keyring"], can_store=False)
        return classify_backend(chained[0])
    kind = type(backend)
    name = _name(kind)
    path = f"{kind.__module__}.{kind.__qualname__}"
    if path in _KEEPS_NOTHING:
        return BackendSafety(False, name, f"{_KEEPS_NOTHING[path]} ({name})", can_store=False)
    if kind.__module__ == _UNPROTECTED_PACKAGE or kind.__module__.startswith(
            _UNPROTECTED_PACKAGE + "."):
        where = getattr(backend, "file_path", None)
        place = f" in {where}" if isinstance(where, str) else ""
        return BackendSafety(False, name, f"keys go to {name} (keyrings.alt), which keeps "
                                          f"them unencrypted{place}, readable by anything "
                                          f"that can read your files")
    return BackendSafety(True, name, "")


class KeyringCredentials:
    """Reads and writes keys through whatever keyring backend is active.

    Tests select a file or in-memory backend with `keyring.set_keyring`.
    """

    def __init__(self, service: str = SERVICE) -> None:
        self.service = service

    def backend_safety(self) -> BackendSafety:
        """Would a key stored now be protected? Asked before storing one, not per read."""
        import keyring

        return classify_backend(keyring.get_keyring())

    def get(self, name: str) -> str | None:
        import keyring  # imported on use: only a real endpoint needs it
        from keyring.errors import KeyringError

        try:
            return keyring.get_password(self.service, name)
        except KeyringError as exc:
            raise SettingsError(f"the keyring could not be read: {exc}") from exc

    def set(self, name: str, secret: str) -> None:
        import keyring
        from keyring.errors import KeyringError

        register_secret(secret)  # a key being stored is this process's secret from now on
        try:
            keyring.set_password(self.service, name, secret)
        except KeyringError as exc:
            # Not chained: a backend's error may quote what it was asked to store.
            raise SettingsError(redact(f"the keyring could not store the key: {exc}")) from None

    def delete(self, name: str) -> None:
        import keyring
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            keyring.delete_password(self.service, name)
        except PasswordDeleteError:
            pass
        except KeyringError as exc:
            raise SettingsError(f"the keyring could not delete the key: {exc}") from exc
