"""The settings dialog: the key goes to the keyring only, bad values are refused beside
their field, "Test connection" names what is wrong, Apply switches the engine live.

asyncio + Qt as in every console test (tests/console/conftest.py): the test's
qasync loop is the running asyncio loop, so a click starts the dialog's coroutine
as a user's click does in the app; `run_async` then turns the Qt loop until the
dialog's `running` task (the apply or the check the click started) is done.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio
import base64
import contextlib
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail, null
from PySide6.QtCore import QRect

from agentcore import Engine, KeyringCredentials, Request, Route, Settings, SettingsError
from agentcore.mock_llm import MockServer
from console import message
from console.settings_dialog import SettingsDialog
from tests.keyring_backend import FileKeyring

KEY = "sk-test-5f3c9a1e7d2b4c6a8e0f"
SLOW_PATH = "my app keeps crashing and nothing helps"


@pytest.fixture
def dialog(qtbot, engine, settings_path):
    return open_dialog(qtbot, engine, settings_path)


def open_dialog(qtbot, engine: Engine, settings_path: Path) -> SettingsDialog:
    """As the main window opens it: the engine's settings, its apply coroutine."""
    dialog = SettingsDialog(engine.settings, engine.apply_settings, settings_path,
                            KeyringCredentials())
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


@pytest.fixture
def messages():
    """What the dialog told the operator through the message bridge (the status bar)."""
    said: list[tuple[str, str]] = []

    def record(level: str, text: str) -> None:
        said.append((level, text))

    message.global_bridge.shown.connect(record)
    yield said
    message.global_bridge.shown.disconnect(record)


def click(run_async, dialog: SettingsDialog, button) -> None:
    """Clicks, then waits for what the click started."""
    button.click()
    if dialog.running is not None:
        run_async(dialog.running)


def type_into(dialog: SettingsDialog, key: str, text: str) -> None:
    edit = dialog.key_edit if key == "api_key" else dialog.edits[key]
    edit.clear()
    edit.insert(text)  # as typed: textChanged fires and the dialog validates


def files_under(*roots: Path) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        found += [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
    return found


# -- the key ----------------------------------------------------------------------


def test_the_key_is_in_the_keyring_and_in_no_file_the_app_wrote(
        run_async, dialog, engine, settings_path, test_keyring, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with MockServer() as server:
        type_into(dialog, "llm.base_url", server.base_url)
        type_into(dialog, "api_key", KEY)
        click(run_async, dialog, dialog.apply_button)
        # The engine uses the key: a slow-path request reaches the endpoint with it.
        outcome = run_async(engine.submit(Request(SLOW_PATH, customer_id=1)))
        assert outcome.route is Route.LLM and server.stats.calls > 0
    run_async(engine.close())  # the database flushed and closed

    assert test_keyring.get_password("agent-console", "default") == KEY
    assert KEY.encode() in test_keyring.path.read_bytes()  # the search below would find it

    written = files_under(settings_path, engine.settings.data_dir)
    assert settings_path in written and engine.settings.engine_db in written
    needles = (KEY.encode(), KEY.encode("utf-16-le"), base64.b64encode(KEY.encode()))
    for path in written:
        data = path.read_bytes()
        assert not any(n in data for n in needles), f"the key leaked into {path}"
    assert KEY not in caplog.text
    assert dialog.key_edit.text() == ""  # the widget keeps no copy once it is stored
    assert "stored in the keyring" in dialog.key_edit.placeholderText()


def test_forgetting_the_key_removes_it_from_the_keyring(run_async, dialog, test_keyring):
    type_into(dialog, "api_key", KEY)
    click(run_async, dialog, dialog.apply_button)
    assert dialog.forget_key_button.isEnabled()
    dialog.forget_key_button.click()
    assert test_keyring.get_password("agent-console", "default") is None
    assert not dialog.forget_key_button.isEnabled()


# -- a keyring that would not protect the key ---------------------------------------

LOCAL_SERVER = "http://localhost:8000/v1"  # applied, never called in these tests


@pytest.fixture
def unprotected(request, qtbot, engine, settings_path):
    """The dialog opened where the only keyring keeps nothing (keyring's own `fail` or
    `null` backend, as on a machine without a keyring service)."""
    keyring.set_keyring(request.param())  # conftest's keyring fixture puts its own back
    return open_dialog(qtbot, engine, settings_path)


def test_a_protected_keyring_needs_no_warning_and_no_consent(dialog):
    assert not dialog.keyring_warning.isVisible() and not dialog.store_anyway.isVisible()
    type_into(dialog, "api_key", KEY)
    assert "api_key" not in dialog.refused and dialog.apply_button.isEnabled()


class PlaintextKeyring(FileKeyring):
    """Stands for keyrings.alt's plaintext file backend (no longer installed): it stores
    keys, unprotected."""

    __module__ = "keyrings.alt.file"


@pytest.mark.parametrize(("unprotected", "name"), [(fail.Keyring, "fail.Keyring"),
                                                   (null.Keyring, "null.Keyring")],
                         indirect=["unprotected"])
def test_a_keyring_that_keeps_nothing_is_named_and_no_key_is_taken(
        qtbot, run_async, unprotected, engine, settings_path, name):
    dialog = unprotected
    warning = dialog.keyring_warning
    assert warning.isVisible() and name in warning.text()
    # Readable: the dialog makes room for the wrapped lines instead of clipping them.
    qtbot.waitUntil(lambda: warning.height() >= warning.heightForWidth(warning.width()))
    assert not dialog.store_anyway.isVisible()  # insisting could not store it anywhere
    assert dialog.apply_button.isEnabled()  # nothing typed, nothing to refuse

    before = engine.settings
    type_into(dialog, "llm.base_url", LOCAL_SERVER)
    type_into(dialog, "api_key", KEY)
    label = dialog.errors["api_key"]
    assert label.isVisible() and label.text().startswith(f"not stored: {name} keeps nothing")
    assert "start a keyring service" in label.text()
    assert not dialog.apply_button.isEnabled() and not dialog.ok_button.isEnabled()
    assert dialog.test_button.isEnabled()  # testing the key stores nothing
    assert run_async(dialog.apply()) is None  # refused even if called
    assert engine.settings is before and not settings_path.exists()
    assert dialog.key_edit.text() == KEY  # still the operator's to decide about


def test_a_plaintext_keyring_takes_a_key_only_when_the_operator_insists(
        qtbot, run_async, tmp_path, engine, settings_path):
    plaintext = PlaintextKeyring(tmp_path / "plain.json")
    keyring.set_keyring(plaintext)  # conftest's keyring fixture puts its own back
    dialog = open_dialog(qtbot, engine, settings_path)
    assert "keyrings.alt" in dialog.keyring_warning.text()
    assert dialog.store_anyway.text() == "Store it anyway in PlaintextKeyring (not encrypted)"
    type_into(dialog, "llm.base_url", LOCAL_SERVER)
    type_into(dialog, "api_key", KEY)
    assert dialog.errors["api_key"].text().startswith("not stored: PlaintextKeyring would not")
    assert "Store it anyway" in dialog.errors["api_key"].text()
    assert not dialog.apply_button.isEnabled()
    assert plaintext.get_password("agent-console", "default") is None

    dialog.store_anyway.click()
    assert "api_key" not in dialog.refused and dialog.apply_button.isEnabled()
    click(run_async, dialog, dialog.apply_button)
    assert engine.settings.llm.base_url == LOCAL_SERVER
    assert plaintext.get_password("agent-console", "default") == KEY
    assert dialog.key_edit.text() == ""  # handed to the keyring
    assert not dialog.store_anyway.isChecked()  # consent was for that key, not the next


# -- bad values ---------------------------------------------------------------------


@pytest.mark.parametrize(("field", "text", "says"), [
    ("loop.dollar_ceiling", "-0.5", "greater than 0"),
    ("loop.max_iterations", "0", "greater than or equal to 1"),
    ("loop.max_iterations", "three", "a whole number"),
    ("loop.tool_timeout_s", "inf", "a finite number"),
    ("llm.decide.input_per_mtok", "-1", "greater than or equal to 0"),
    ("llm.decide.model", "", "required"),
    ("cache.l1_ttl_s", "0", "greater than 0"),
    ("resilience.breaker.failure_threshold", "0", "greater than or equal to 1"),
    ("resilience.rate_limit.requests_per_minute", "-5", "greater than or equal to 1"),
    ("llm.base_url", "https://user:secret@llm.example.com/v1", "not in the base URL"),
    ("llm.base_url", "localhost:8000/v1", "must start with http:// or https://"),
    ("llm.base_url", "htps://api.openai.com/v1", "must start with http:// or https://"),
    ("llm.base_url", "http://127.0.0.1:99999/v1", "port must be a number from 1 to 65535"),
    ("escalations.operator", "  ", "required"),
    ("escalations.lease_s", "5", "greater than or equal to 10"),
    ("escalations.waiting_target_s", "0", "greater than 0"),
    ("resilience.max_in_flight", "0", "greater than or equal to 1"),
    ("resilience.max_in_flight", "1.5", "a whole number"),
    ("llm.request_timeout_s", "0", "greater than 0"),
    ("resilience.request_deadline_s", "-1", "greater than 0"),
])
def test_a_bad_value_is_refused_beside_its_field_and_blocks_apply(
        run_async, dialog, engine, settings_path, field, text, says):
    before = engine.settings
    type_into(dialog, field, text)
    label = dialog.errors[field]
    assert label.isVisible() and says in label.text()
    assert list(dialog.refused) == [field] and dialog.refused[field] == label.text()
    assert not dialog.apply_button.isEnabled() and not dialog.ok_button.isEnabled()
    assert run_async(dialog.apply()) is None  # refused even if called
    assert engine.settings is before and not settings_path.exists()

    type_into(dialog, field, dialog_default(before, field))  # fixed: accepted again
    assert not label.isVisible() and dialog.apply_button.isEnabled()


def dialog_default(settings: Settings, field: str) -> str:
    value = settings.model_dump()
    for part in field.split("."):
        value = value[part]
    return "" if value is None else str(value)


def test_empty_optional_fields_mean_mock_no_classify_stage_and_no_limit(
        run_async, dialog, engine, settings_path):
    type_into(dialog, "llm.classify.model", "")
    assert not dialog.edits["llm.classify.input_per_mtok"].isEnabled()
    type_into(dialog, "resilience.rate_limit.tokens_per_minute", "")
    type_into(dialog, "resilience.request_deadline_s", "")
    type_into(dialog, "resilience.max_in_flight", "3")
    type_into(dialog, "loop.max_iterations", "5")
    click(run_async, dialog, dialog.apply_button)
    applied = engine.settings
    assert applied.llm.base_url is None and applied.llm.classify is None
    assert applied.resilience.rate_limit.tokens_per_minute is None
    assert applied.resilience.request_deadline_s is None
    assert applied.resilience.max_in_flight == 3
    assert applied.loop.max_iterations == 5
    assert Settings.load(settings_path) == applied


# -- test connection ------------------------------------------------------------------


def check(run_async, dialog: SettingsDialog):
    click(run_async, dialog, dialog.test_button)
    report = dialog.connection_report
    assert report is not None and dialog.test_result.text() == report.message
    return report


def test_a_closed_port_is_reported_unreachable(run_async, dialog):
    type_into(dialog, "llm.base_url", "http://127.0.0.1:9/v1")
    type_into(dialog, "api_key", KEY)
    report = check(run_async, dialog)
    assert report.kind == "unreachable" and not report.ok
    assert "unreachable" in dialog.test_result.text()


def test_the_mock_server_answers_ok_with_its_latency(run_async, dialog):
    with MockServer() as server:
        type_into(dialog, "llm.base_url", server.base_url)
        type_into(dialog, "api_key", KEY)
        report = check(run_async, dialog)
    assert report.ok and report.latency_ms is not None
    assert dialog.test_result.text().startswith("OK") and " ms" in dialog.test_result.text()


def test_an_unknown_model_is_named(run_async, dialog):
    with MockServer() as server:
        type_into(dialog, "llm.base_url", server.base_url)
        type_into(dialog, "api_key", KEY)
        type_into(dialog, "llm.decide.model", "gpt-9-imaginary")
        report = check(run_async, dialog)
    assert report.kind == "not_found"
    assert "model 'gpt-9-imaginary' not found" in dialog.test_result.text()


class _Refuses(BaseHTTPRequestHandler):
    """An endpoint that refuses every key, as OpenAI does with a wrong one."""

    def do_GET(self) -> None:
        body = (b'{"error": {"message": "Incorrect API key provided", '
                b'"type": "invalid_request_error", "code": "invalid_api_key"}}')
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def refusing_endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuses)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_a_refused_key_is_reported_as_401(run_async, dialog, refusing_endpoint):
    type_into(dialog, "llm.base_url", refusing_endpoint)
    type_into(dialog, "api_key", KEY)
    report = check(run_async, dialog)
    assert report.kind == "auth"
    assert dialog.test_result.text() == "the API key was refused (401)"


def test_closing_the_dialog_stops_a_check_waiting_on_a_silent_endpoint(run_async, dialog):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        type_into(dialog, "llm.base_url", f"http://127.0.0.1:{silent.getsockname()[1]}/v1")
        type_into(dialog, "api_key", KEY)

        async def click_then_close():
            dialog.test_button.click()
            await asyncio.sleep(0.2)
            assert dialog.test_result.text() == "Testing…"
            assert not dialog.test_button.isEnabled()  # one check at a time
            dialog.reject()
            with contextlib.suppress(asyncio.CancelledError):
                await dialog.running

        run_async(click_then_close(), timeout_ms=5_000)
    assert dialog.running.cancelled() and dialog.connection_report is None
    assert dialog.test_result.text() == "" and dialog.test_button.isEnabled()


def test_the_endpoint_can_be_tested_while_another_section_is_invalid(dialog):
    type_into(dialog, "cache.l2_ttl_s", "-1")
    assert dialog.test_button.isEnabled() and not dialog.apply_button.isEnabled()
    type_into(dialog, "llm.base_url", "https://a:b@llm.example.com")
    assert not dialog.test_button.isEnabled()  # the endpoint itself is refused


def test_a_hosted_endpoint_without_a_stored_key_is_warned_about_not_refused(dialog):
    type_into(dialog, "llm.base_url", "https://llm.example.com/v1")
    warning = dialog.errors["api_key"]
    assert warning.isVisible()
    assert warning.text() == ("no key is stored under 'default': the endpoint will probably "
                              "refuse requests without a key")
    assert "api_key" not in dialog.refused and dialog.apply_button.isEnabled()
    type_into(dialog, "api_key", KEY)
    assert not warning.isVisible()
    type_into(dialog, "api_key", "sk-one two")
    assert "no spaces" in dialog.refused["api_key"] and not dialog.apply_button.isEnabled()


def test_a_local_server_without_a_key_is_not_warned_about(dialog):
    type_into(dialog, "llm.base_url", "http://localhost:8000/v1")
    assert not dialog.errors["api_key"].isVisible()
    assert dialog.key_edit.placeholderText() == "none needed: local server"
    assert dialog.apply_button.isEnabled() and dialog.test_button.isEnabled()


# -- apply switches the engine live ---------------------------------------------------


def test_applying_a_new_base_url_switches_the_engine_without_restart(
        run_async, dialog, engine, settings_path, messages):
    applied: list[Settings] = []
    dialog.applied.connect(applied.append)
    first = run_async(engine.submit(Request(SLOW_PATH, customer_id=1)))
    assert first.route is Route.LLM  # answered by the built-in mock, in process
    with MockServer() as server:
        type_into(dialog, "llm.base_url", server.base_url)
        type_into(dialog, "api_key", KEY)
        click(run_async, dialog, dialog.ok_button)
        assert engine.settings.llm.base_url == server.base_url
        assert applied == [engine.settings]
        assert messages == [("info", f"Settings applied: LLM {server.base_url}")]
        assert Settings.load(settings_path).llm.base_url == server.base_url
        assert not dialog.isVisible()  # OK applies, then closes
        before = server.stats.calls
        second = run_async(engine.submit(Request(SLOW_PATH + " again", customer_id=1)))
    assert second.route is Route.LLM and second.status == "answered"
    assert server.stats.calls > before  # the next slow-path request went to the new endpoint


def test_switching_back_to_the_mock_needs_no_key(run_async, dialog, engine):
    with MockServer() as server:
        type_into(dialog, "llm.base_url", server.base_url)
        type_into(dialog, "api_key", KEY)
        click(run_async, dialog, dialog.apply_button)
    type_into(dialog, "llm.base_url", "")
    click(run_async, dialog, dialog.apply_button)
    assert engine.settings.llm.base_url is None
    outcome = run_async(engine.submit(Request(SLOW_PATH, customer_id=2)), timeout_ms=10_000)
    assert outcome.route is Route.LLM and outcome.status == "answered"


def test_settings_the_engine_refuses_are_shown_and_neither_kept_nor_saved(
        qtbot, run_async, settings, settings_path):
    """The dialog knows only the settings and the coroutine that applies them."""
    tried: list[Settings] = []

    async def refuse(new: Settings) -> None:
        tried.append(new)
        raise SettingsError("the engine's database is read-only")

    dialog = SettingsDialog(settings, refuse, settings_path, KeyringCredentials())
    qtbot.addWidget(dialog)
    dialog.show()
    applied: list[Settings] = []
    dialog.applied.connect(applied.append)
    type_into(dialog, "loop.max_iterations", "4")
    click(run_async, dialog, dialog.ok_button)
    assert [new.loop.max_iterations for new in tried] == [4]
    assert dialog.general_error.isVisible()
    assert "read-only" in dialog.general_error.text()
    assert dialog.isVisible() and applied == [] and not settings_path.exists()
    assert dialog.apply_button.isEnabled()  # the operator can try again


class OnAShortScreen(SettingsDialog):
    """The dialog where the screen has 500 px of room (the offscreen one has 800)."""

    def _room(self) -> QRect:
        return QRect(0, 0, 1024, 500)


def test_on_a_screen_shorter_than_its_fields_the_buttons_stay_on_it_and_the_fields_scroll(
        qtbot, engine, settings_path):
    dialog = OnAShortScreen(engine.settings, engine.apply_settings, settings_path,
                            KeyringCredentials())
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.content.sizeHint().height() > 500  # it would not fit
    assert dialog.height() <= 500
    for button in (dialog.ok_button, dialog.apply_button):
        corner = button.mapTo(dialog, button.rect().bottomRight())
        assert dialog.rect().contains(corner)
    last = dialog.edits["storage.spans_max_mb"]  # the last field of the last column
    dialog.fields_area.ensureWidgetVisible(last)
    assert dialog.fields_area.verticalScrollBar().value() > 0
    viewport = dialog.fields_area.viewport()
    assert viewport.rect().contains(last.mapTo(viewport, last.rect().center()))
