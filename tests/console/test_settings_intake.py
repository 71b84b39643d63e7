"""Settings > Intake API: an operator turns the console's HTTP intake on, gives it a
token and turns it off again, all from the dialog; real HTTP from httpx against the
address the group shows, the token in the test's file keyring.

asyncio + Qt as in every console test (tests/console/conftest.py): a click starts the
dialog's apply coroutine on the test's qasync loop; `run` turns the Qt loop until it
and the HTTP calls are done.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx2
import keyring
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLineEdit

from agentcore import Settings
from console.app import Console
from console.settings_dialog import SettingsDialog
from tests.agentcore.intake.receiver import Receiver
from tests.console.conftest import run
from tests.keyring_backend import FileKeyring

ORDER_QUESTION = {"text": "where is my order 1001?", "customer_id": 3}


@pytest.fixture
def window_console(make_console, settings: Settings) -> Console:
    return make_console(settings)


@pytest.fixture
def dialog(qtbot, window_console: Console) -> Iterator[SettingsDialog]:
    dialog = window_console.window.open_settings()
    qtbot.waitUntil(dialog.isVisible)
    yield dialog
    dialog.reject()


def apply(qtbot, dialog: SettingsDialog) -> None:
    """Clicks Apply, then waits for what the click started."""
    assert dialog.apply_button.isEnabled(), dialog.refused
    dialog.apply_button.click()
    assert dialog.running is not None
    run(qtbot, dialog.running, 30_000)


def turn_on(dialog: SettingsDialog, *, host: str = "127.0.0.1", port: str = "0") -> None:
    group = dialog.intake
    group.enabled.setChecked(True)
    retype(group.host_edit, host)
    retype(group.port_edit, port)


def retype(edit: QLineEdit, text: str) -> None:
    edit.clear()
    edit.insert(text)  # as typed: the dialog validates


def shown_url(dialog: SettingsDialog) -> str:
    text = dialog.intake.state.text()
    assert text.startswith("Listening on http://"), text
    return text.removeprefix("Listening on ")


def post(qtbot, url: str, token: str | None = None) -> httpx2.Response:
    headers = {"Prefer": "wait=10"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"

    async def send() -> httpx2.Response:
        async with httpx2.AsyncClient(base_url=url, timeout=30) as http:
            return await http.post("/v1/requests", headers=headers, json=ORDER_QUESTION)

    return run(qtbot, send(), 40_000)


def refuses_connections(url: str) -> bool:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_turned_on_in_the_dialog_it_answers_on_the_address_shown_and_off_closes_it(
        qtbot, window_console, dialog):
    window = window_console.window
    assert window.intake_segment.text() == "Intake: off"
    turn_on(dialog)
    apply(qtbot, dialog)

    url = shown_url(dialog)
    assert not url.endswith(":0")  # port 0 asked for any free one: the real one shows
    reply = post(qtbot, url)
    assert reply.status_code == 200 and reply.json()["status"] == "answered"
    assert window.intake_segment.text().startswith(f"Intake: {url} · ")
    saved = json.loads(window.settings_path.read_text())
    assert saved["intake"]["enabled"] is True

    dialog.intake.enabled.setChecked(False)
    apply(qtbot, dialog)
    assert refuses_connections(url)
    assert dialog.intake.state.text() == "Not running."
    assert window.intake_segment.text() == "Intake: off"


def test_a_generated_token_is_asked_for_and_a_replaced_one_no_longer_works(
        qtbot, window_console, dialog, test_keyring: FileKeyring):
    group = dialog.intake
    turn_on(dialog)
    group.require_token.setChecked(True)
    token = group.token.generate()
    assert QGuiApplication.clipboard().text() == token  # to hand to the callers
    assert group.token.edit.echoMode() is QLineEdit.EchoMode.Password
    assert token not in group.token.status.text()
    apply(qtbot, dialog)

    assert test_keyring.get_password("agent-console", "intake-token") == token
    assert group.token.edit.text() == ""  # the widget keeps no copy once stored
    assert "A token is stored" in group.token.status.text()
    assert token not in window_console.window.settings_path.read_text()
    url = shown_url(dialog)
    assert post(qtbot, url).status_code == 401
    assert post(qtbot, url, token).status_code == 200

    # Replaced while it runs: the intake restarts with the new one.
    retype(group.token.edit, "a-new-token-typed-by-the-operator")
    apply(qtbot, dialog)
    url = shown_url(dialog)
    assert post(qtbot, url, token).status_code == 401
    assert post(qtbot, url, "a-new-token-typed-by-the-operator").status_code == 200

    # Removed, and no longer required: loopback callers need none.
    group.require_token.setChecked(False)
    group.token.remove()
    apply(qtbot, dialog)
    assert test_keyring.get_password("agent-console", "intake-token") is None
    assert post(qtbot, shown_url(dialog)).status_code == 200


def test_beyond_loopback_without_a_token_apply_is_refused_and_nothing_is_saved(
        qtbot, window_console, dialog):
    settings_path = window_console.window.settings_path
    before = settings_path.read_bytes() if settings_path.exists() else None
    turn_on(dialog, host="0.0.0.0")

    message = dialog.errors["intake.token"]
    assert message.isVisible()
    assert "a token is needed to listen on 0.0.0.0" in message.text()
    assert not dialog.apply_button.isEnabled() and not dialog.ok_button.isEnabled()
    assert run(qtbot, dialog.apply()) is None  # even if Apply were reached another way
    assert (settings_path.read_bytes() if settings_path.exists() else None) == before
    assert window_console.window.intake_host.url is None

    # With a token it may: the message goes and Apply comes back.
    dialog.intake.token.generate()
    assert not message.isVisible() and dialog.apply_button.isEnabled()


@pytest.mark.parametrize(("port", "said"), [("70000", "a port from 1 to 65535"),
                                            ("-1", "a port from 1 to 65535"),
                                            ("eighty", "a port number, like 8088")])
def test_a_port_out_of_range_is_refused_beside_the_field(qtbot, dialog, port, said):
    turn_on(dialog, port=port)
    label = dialog.errors["intake.port"]
    assert label.isVisible() and said in label.text()
    assert not dialog.apply_button.isEnabled()


def test_a_port_in_use_is_reported_in_the_group_and_the_status_bar_and_ok_stays_open(
        qtbot, window_console, dialog):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        turn_on(dialog, port=str(port))
        dialog.ok_button.click()
        assert dialog.running is not None
        run(qtbot, dialog.running, 30_000)
        state = dialog.intake.state.text()
        assert state.startswith("Did not start: ") and f"127.0.0.1:{port}" in state
        assert "in use" in state.lower()
        assert dialog.isVisible()  # OK did not close it on the failure
        segment = window_console.window.intake_segment
        assert segment.text().startswith("Intake: failed · ")
        assert "in use" in segment.text().lower()

        # Moved to a free port, it starts.
        retype(dialog.intake.port_edit, "0")
        apply(qtbot, dialog)
        assert post(qtbot, shown_url(dialog)).status_code == 200
        assert segment.text().startswith("Intake: http://127.0.0.1:")
    finally:
        taken.close()


def test_the_status_bar_segment_opens_settings_on_the_intake_group(qtbot, window_console):
    window = window_console.window
    window.show()
    qtbot.mouseClick(window.intake_segment, Qt.MouseButton.LeftButton)
    dialog = window.settings_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible)
    qtbot.waitUntil(lambda: not dialog.intake.visibleRegion().isEmpty())
    dialog.reject()


def test_a_callback_added_in_the_dialog_gets_each_outcome_signed_with_its_secret(
        qtbot, window_console, dialog, test_keyring: FileKeyring):
    group = dialog.intake
    turn_on(dialog)
    receiver = Receiver("")
    hook = run(qtbot, receiver.start())
    try:
        group.add_callback("api", hook)  # the channel of a POST that names none
        label = dialog.errors["intake.callback_secret"]
        assert label.isVisible() and "signed" in label.text()
        assert not dialog.apply_button.isEnabled()  # the intake would not start
        receiver.secret = group.callback_secret.generate()
        apply(qtbot, dialog)

        assert test_keyring.get_password("agent-console",
                                         "intake-webhook-secret") == receiver.secret
        saved = json.loads(window_console.window.settings_path.read_text())
        assert saved["intake"]["callbacks"] == {"api": hook}
        assert receiver.secret not in window_console.window.settings_path.read_text()
        posted = post(qtbot, shown_url(dialog))
        qtbot.waitUntil(lambda: bool(receiver.deliveries), timeout=20_000)
        assert receiver.bad_signatures == 0
        assert [body["request"]["id"] for _, body in receiver.deliveries] == [
            posted.json()["id"]]
    finally:
        run(qtbot, receiver.close())


@pytest.mark.parametrize(("channel", "url", "said"), [
    ("api", "desk.example/hooks", "needs an http(s) URL"),
    ("", "https://desk.example/hooks", "needs a channel"),
])
def test_a_bad_callback_row_is_refused_under_the_table(qtbot, dialog, channel, url, said):
    turn_on(dialog)
    dialog.intake.callback_secret.generate()
    dialog.intake.add_callback(channel, url)
    label = dialog.errors["intake.callbacks"]
    assert label.isVisible() and said in label.text()
    assert not dialog.apply_button.isEnabled()


class PlaintextKeyring(FileKeyring):
    """Stands for keyrings.alt's plaintext file backend, as in test_settings.py."""

    __module__ = "keyrings.alt.file"


def test_a_plaintext_keyring_takes_the_token_only_when_the_operator_insists(
        qtbot, window_console, tmp_path):
    plaintext = PlaintextKeyring(tmp_path / "plain.json")
    keyring.set_keyring(plaintext)  # conftest's keyring fixture puts its own back
    dialog = window_console.window.open_settings()
    turn_on(dialog)
    token = dialog.intake.token.generate()
    label = dialog.errors["intake.token"]
    assert label.isVisible() and "PlaintextKeyring would not protect it" in label.text()
    assert not dialog.apply_button.isEnabled()

    dialog.intake.store_anyway.click()
    apply(qtbot, dialog)
    assert plaintext.get_password("agent-console", "intake-token") == token
    assert not dialog.intake.store_anyway.isChecked()  # consent was for that token
    dialog.reject()
