"""Which keyring would a key go to, and would it be protected there? Headless.

Unsafe backends are keyring's own (`fail`, `null`), selected with
`keyring.set_keyring` as a machine without a keyring service would end up
with; the test keyring (conftest) stands for a real OS keyring.
"""

from __future__ import annotations

import keyring
import pytest
from keyring.backends import chainer, fail, null

from agentcore import KeyringCredentials, SettingsError
from agentcore.credentials import classify_backend
from agentcore.redaction import redact
from tests.keyring_backend import FileKeyring


@pytest.fixture
def use():
    """Selects a keyring backend for the test; conftest's fixture restores the previous."""
    return keyring.set_keyring


class PlaintextKeyring:
    """Stands for keyrings.alt's backend of that name (the tests no longer install it):
    what decides is where it comes from, a package that keeps keys in plain files."""

    __module__ = "keyrings.alt.file"
    file_path = "/home/op/.local/share/python_keyring/keyring_pass.cfg"


class OnlyThese:
    """A chainer over a fixed list, as keyring's ChainerBackend builds one from what the
    machine offers. (Not a subclass: keyring would then discover it as a backend.)"""

    def __init__(self, *backends: object) -> None:
        self.backends = list(backends)


def test_the_os_keyring_stand_in_counts_as_safe(test_keyring):
    safety = KeyringCredentials().backend_safety()
    assert safety.safe and safety.description == ""
    assert safety.name == "FileKeyring"


@pytest.mark.parametrize(("backend", "name", "says"), [
    (fail.Keyring(), "fail.Keyring", "no keyring service is available"),
    (null.Keyring(), "null.Keyring", "thrown away"),
])
def test_a_keyring_that_keeps_nothing_is_unsafe_and_says_why(use, backend, name, says):
    use(backend)
    safety = KeyringCredentials().backend_safety()
    assert not safety.safe and safety.name == name
    assert says in safety.description and name in safety.description


def test_a_plaintext_file_keyring_is_unsafe_and_says_where_the_key_would_go():
    safety = classify_backend(PlaintextKeyring())
    assert not safety.safe and safety.name == "PlaintextKeyring"
    assert "unencrypted" in safety.description
    assert PlaintextKeyring.file_path in safety.description


def test_a_chainer_of_only_plaintext_or_null_backends_is_unsafe():
    safety = classify_backend(OnlyThese(PlaintextKeyring(), null.Keyring()))
    assert not safety.safe and safety.name == "PlaintextKeyring"


def test_keyrings_own_chainer_is_judged_by_what_it_chains():
    real = chainer.ChainerBackend()
    chained = real.backends  # what this machine offers
    safety = classify_backend(real)
    if chained:
        assert safety == classify_backend(chained[0])
    else:  # nothing to chain (a container, CI): a key would be kept nowhere
        assert not safety.safe and "no keyring service" in safety.description


def test_a_chainer_is_as_safe_as_the_backend_it_writes_to(tmp_path):
    os_keyring = FileKeyring(tmp_path / "k.json")
    assert classify_backend(OnlyThese(os_keyring, PlaintextKeyring())).safe
    # The first in its list takes the key: a safe one further down does not help.
    assert not classify_backend(OnlyThese(PlaintextKeyring(), os_keyring)).safe
    assert not classify_backend(OnlyThese()).safe  # nothing to chain: nothing is stored


def test_a_keyring_that_cannot_store_says_so_without_the_key(use):
    use(fail.Keyring())
    key = "hunter2-typed-in-settings"
    with pytest.raises(SettingsError, match="could not store the key") as caught:
        KeyringCredentials().set("default", key)
    assert key not in str(caught.value) and caught.value.__cause__ is None


def test_a_stored_key_is_a_secret_of_the_process_from_then_on(test_keyring):
    key = "local-server-key-7731"
    KeyringCredentials().set("default", key)
    assert test_keyring.get_password("agent-console", "default") == key
    assert redact(f"refused: {key}") == "refused: ***"
