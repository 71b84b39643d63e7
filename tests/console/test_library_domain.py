"""The console runs the second domain as it runs the shop: a library's loans.

The library's requests show in the feed and the detail; a fine waiver above the
limit waits in the queue with what is at stake and the member's loans beside it;
the operator claims and approves it from the keyboard, and the fine is waived
exactly once, however often the approval is pressed. The model is the librarian
on a loopback port (tests/librarian_llm.py)."""

from __future__ import annotations

import sqlite3

import pytest
from PySide6.QtCore import Qt

from agentcore import FakeClock, Request, Settings
from console.escalations_view import Column
from console.feed import Column as FeedColumn
from console.notifier import RecordingNotifier
from tests.console.dialogs import approve
from tests.console.test_escalations_view import key, show_queue
from tests.librarian_llm import librarian_llm

OPERATOR = "alice"
MEMBER, TOO_LATE = 1, 1031


@pytest.fixture
def librarian():
    with librarian_llm() as served:
        yield served


@pytest.fixture
def library(tmp_path, librarian) -> Settings:
    settings = Settings(data_dir=tmp_path / "library-data", domain="library_loans:create")
    settings.llm.base_url = librarian.base_url
    settings.escalations.operator = OPERATOR
    return settings


def waivers(settings: Settings) -> list[tuple[str, int, int]]:
    with sqlite3.connect(settings.data_dir / "library.sqlite") as conn:
        return conn.execute("SELECT request_id, loan_id, amount_cents FROM waivers").fetchall()


def test_a_library_request_shows_in_the_feed_and_its_detail(make_console, library, qtbot):
    console = make_console(library, rows=[])
    window = console.window
    window.show()
    window.compose.customer.setValue(MEMBER)
    qtbot.keyClicks(window.compose.text, "When is loan 1001 due?")
    qtbot.keyClick(window.compose.text, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.feed.proxy.rowCount() == 1)
    proxy = window.feed.proxy
    assert proxy.index(0, FeedColumn.ROUTE).data() == "rule"
    assert proxy.index(0, FeedColumn.CUSTOMER).data() == str(MEMBER)
    qtbot.waitUntil(lambda: window.detail.outcome is not None)
    assert "The Name of the Rose" in window.detail.answer.toPlainText()
    assert "rule" in window.detail.values["route"].text()


def test_a_waiver_above_the_limit_is_approved_from_the_queue_and_waived_once(
        make_console, library, run_async, qtbot):
    desk = make_console(library, rows=[], clock=FakeClock(), notifier=RecordingNotifier())
    window, panel = desk.window, desk.window.escalation
    show_queue(window)
    window.activateWindow()
    outcome = run_async(desk.engine.submit(Request("Please waive the $6.00 fine on loan 1031",
                                                   customer_id=MEMBER)))
    assert outcome.pending_action is not None
    qtbot.waitUntil(lambda: window.escalations.model.rowCount() == 1)
    model = window.escalations.model
    assert model.index(0, Column.REASON).data() == "policy violation"
    assert model.index(0, Column.INTENT).data() == "fine_waiver"
    assert model.index(0, Column.AT_STAKE).data() == "$6.00 waiver asked"

    window.escalations.select_next()
    qtbot.waitUntil(lambda: panel.item is not None)
    key(qtbot, window, "Ctrl+Shift+C")
    # The member and their loans, from the domain's own customer context.
    assert "Ada Byron" in panel.customer.text() and str(TOO_LATE) in panel.customer.text()
    card = panel.customer.text()  # the loan at issue first, its fine in money
    assert card.index("This request is about") < card.index(f"Loan #{TOO_LATE}")
    assert "Fines owed $" in card and "fine_cents" not in card
    assert "waive fine $5.00 on loan 1031" in panel.pending.text.text()
    assert panel.pending.allowed.text().startswith("policy allows up to $5.00")
    assert panel.pending.arg_edits["amount"].text() in ("5.0", "5.00")
    assert waivers(library) == []

    approve(qtbot, window)
    assert "approved" in panel.pending.text.text()
    assert "$5.00 waived" in panel.pending.text.text()  # the domain's verb, not "refunded"
    assert "I've waived $5.00 for loan #" in panel.composer.toPlainText()
    run_async(panel.approve())  # again: a double press, a retry
    assert waivers(library) == [(outcome.request_id, TOO_LATE, 500)]
