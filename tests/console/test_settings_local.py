"""The settings dialog and a local server: the local profile for what the operator has
not changed, a note saying what it means, the server's slots asked by "Test
connection", no key needed; and what the check says against a stand-in endpoint
over real HTTP on loopback (no key wanted or one wanted, a URL missing /v1).

Clicks run on the test's qasync loop as in test_settings.py, whose helpers these are.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.console.test_settings import check, click, open_dialog, type_into
from tests.standin_llm import MODEL, standin_llm

LOCAL = "http://127.0.0.1:8080/v1"  # typed, never called, in the tests without a server
HOSTED = "https://llm.example.com/v1"
PRICES = ("llm.classify.input_per_mtok", "llm.classify.output_per_mtok",
          "llm.decide.input_per_mtok", "llm.decide.output_per_mtok")


@pytest.fixture
def dialog(qtbot, engine, tmp_path):
    return open_dialog(qtbot, engine, tmp_path / "config" / "settings.json")


def text(dialog, key: str) -> str:
    return dialog.edits[key].text()


def typed(qtbot, dialog, key: str, value: str) -> None:
    """As the operator types it: key by key, into an emptied field."""
    edit = dialog.edits[key]
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Delete)
    qtbot.keyClicks(edit, value)


def test_a_local_url_picks_the_local_profile_and_says_what_it_means(qtbot, dialog):
    width = dialog.width()
    assert text(dialog, "resilience.max_in_flight") == ""  # the hosted default: no limit
    assert not dialog.profile_note.isVisible()
    typed(qtbot, dialog, "llm.base_url", LOCAL)
    assert text(dialog, "resilience.max_in_flight") == "1"
    assert text(dialog, "llm.request_timeout_s") == "180"
    assert text(dialog, "resilience.request_deadline_s") == "900"
    assert [text(dialog, key) for key in PRICES] == ["0"] * 4
    note = dialog.profile_note
    assert note.isVisible()
    assert note.text().startswith("local server: 1 call in flight, 180 s per call")
    assert note.text().endswith("no token prices")
    # The note wraps under the URL: the window keeps its width, nothing is clipped.
    assert dialog.width() == width
    qtbot.waitUntil(lambda: note.height() >= note.heightForWidth(note.width()))

    typed(qtbot, dialog, "llm.base_url", HOSTED)  # a hosted endpoint: as it was
    assert text(dialog, "resilience.max_in_flight") == ""
    assert text(dialog, "llm.request_timeout_s") == "30"
    assert text(dialog, "llm.decide.input_per_mtok") == "2.5"
    assert not note.isVisible()


def test_what_the_operator_typed_is_kept_and_the_rest_follows_the_url(
        qtbot, run_async, dialog, engine):
    typed(qtbot, dialog, "llm.request_timeout_s", "45")
    typed(qtbot, dialog, "llm.decide.input_per_mtok", "0.1")
    typed(qtbot, dialog, "llm.base_url", LOCAL)
    assert text(dialog, "llm.request_timeout_s") == "45"
    assert text(dialog, "llm.decide.input_per_mtok") == "0.1"
    assert text(dialog, "llm.decide.output_per_mtok") == "0"
    assert text(dialog, "resilience.max_in_flight") == "1"
    assert "45 s per call" in dialog.profile_note.text()
    assert "no token prices" not in dialog.profile_note.text()  # one is set

    click(run_async, dialog, dialog.apply_button)
    applied = engine.settings
    assert applied.llm.base_url == LOCAL and applied.llm.request_timeout_s == 45
    assert dialog.key_edit.placeholderText() == "none needed: local server"  # still
    assert applied.resilience.max_in_flight == 1
    assert applied.resilience.request_deadline_s == 900
    # What no field shows follows the profile too: a timed-out call is not retried.
    assert not applied.resilience.retry.retry_timeouts
    assert applied.resilience.retry.max_attempts == 2
    assert applied.llm.decide.input_per_mtok == 0.1 and applied.llm.decide.output_per_mtok == 0


def test_test_connection_takes_the_slots_a_local_server_reports(qtbot, run_async, dialog, engine):
    with standin_llm(slots=4) as server:
        typed(qtbot, dialog, "llm.base_url", server.base_url)
        type_into(dialog, "llm.classify.model", "")
        type_into(dialog, "llm.decide.model", MODEL)
        assert text(dialog, "resilience.max_in_flight") == "1"
        report = check(run_async, dialog)
    assert report.ok, report.message
    assert text(dialog, "resilience.max_in_flight") == "4"
    assert dialog.profile_note.text().startswith(
        "local server with 4 slots: 4 calls in flight")
    click(run_async, dialog, dialog.apply_button)
    assert engine.settings.resilience.max_in_flight == 4


def test_calls_in_flight_typed_by_the_operator_win_over_the_slots(qtbot, run_async, dialog):
    with standin_llm(slots=4) as server:
        typed(qtbot, dialog, "resilience.max_in_flight", "2")
        typed(qtbot, dialog, "llm.base_url", server.base_url)
        type_into(dialog, "llm.classify.model", "")
        type_into(dialog, "llm.decide.model", MODEL)
        check(run_async, dialog)
    assert text(dialog, "resilience.max_in_flight") == "2"
    assert dialog.profile_note.text().startswith(
        "local server with 4 slots: 2 calls in flight")


@pytest.mark.parametrize(("wants_key", "says"), [
    (False, "; no API key is stored; the endpoint accepted none"),
    (True, "the endpoint wants an API key: none is stored under 'default'"),
])
def test_test_connection_without_a_key(qtbot, run_async, dialog, wants_key, says):
    with standin_llm(key="sk-local-1" if wants_key else None) as server:
        type_into(dialog, "llm.base_url", server.base_url)
        type_into(dialog, "llm.classify.model", "")
        type_into(dialog, "llm.decide.model", MODEL)
        report = check(run_async, dialog)
    assert report.ok is not wants_key
    result = dialog.test_result
    assert says in result.text()
    # Three lines in the narrow column: the dialog makes room instead of cutting one off.
    qtbot.waitUntil(lambda: result.height() >= result.heightForWidth(result.width()))


def test_test_connection_names_a_missing_v1(qtbot, run_async, dialog):
    with standin_llm() as server:
        type_into(dialog, "llm.base_url", server.root)
        type_into(dialog, "llm.decide.model", MODEL)
        report = check(run_async, dialog)
    assert report.kind == "wrong_path"
    assert dialog.test_result.text() == (f"the server answers at {server.root}/v1: add /v1 "
                                         "to the base URL")
