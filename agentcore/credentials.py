"""API keys live in the OS keyring and nowhere else (not SQLite, settings, logs or traces)."""

from __future__ import annotations

import logging

from agentcore.errors import SettingsError

log = logging.getLogger("agentcore.credentials")

SERVICE = "agent-console"


class KeyringCredentials:
    """Reads and writes keys through whatever keyring backend is active.

    Tests select a file or in-memory backend with `keyring.set_keyring`.
    """

    def __init__(self, service: str = SERVICE) -> None:
        self.service = service

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

        try:
            keyring.set_password(self.service, name, secret)
        except KeyringError as exc:
            raise SettingsError(f"the keyring could not store the key: {exc}") from exc

    def delete(self, name: str) -> None:
        import keyring
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            keyring.delete_password(self.service, name)
        except PasswordDeleteError:
            pass
        except KeyringError as exc:
            raise SettingsError(f"the keyring could not delete the key: {exc}") from exc
