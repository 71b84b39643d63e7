"""The tests' own keyring backend: a JSON file in the test's folder.

Never the developer's OS keyring, and no third-party file backend in the dev
extras (keyrings.alt would then be what a `make run` from the same venv stores
keys in). A child process selects it with
`PYTHON_KEYRING_BACKEND=tests.keyring_backend.FileKeyring` and finds the file
through `TEST_KEYRING_FILE`; it runs with the repository as its working
directory, so `tests` is importable there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.compat import properties
from keyring.errors import PasswordDeleteError

FILE_VARIABLE = "TEST_KEYRING_FILE"
BACKEND_NAME = "tests.keyring_backend.FileKeyring"


class FileKeyring(KeyringBackend):
    """Passwords as plain JSON, {service: {username: password}}: for tests only."""

    @properties.classproperty
    def priority(cls) -> float:
        # Viable only where a child process is pointed at a file: keyring's discovery
        # (a chainer's list, the default choice) must never pick it up by itself.
        if not os.environ.get(FILE_VARIABLE):
            raise RuntimeError(f"FileKeyring is chosen explicitly, with ${FILE_VARIABLE}")
        return 1

    def __init__(self, path: Path | str | None = None) -> None:
        super().__init__()
        location = path or os.environ.get(FILE_VARIABLE)
        if not location:
            raise RuntimeError(f"FileKeyring needs a path or ${FILE_VARIABLE}")
        self.path = Path(location)

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}

    def _save(self, data: dict[str, dict[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(data), encoding="utf-8")

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(service, {}).get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data.setdefault(service, {})[username] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if username not in data.get(service, {}):
            raise PasswordDeleteError(f"no password for {username!r} in {service!r}")
        del data[service][username]
        self._save(data)

    def child_env(self) -> dict[str, str]:
        """The variables that make a child process use this same file."""
        return {"PYTHON_KEYRING_BACKEND": BACKEND_NAME, FILE_VARIABLE: str(self.path)}
