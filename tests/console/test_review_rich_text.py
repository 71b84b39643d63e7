"""Review of issue 13: labels that quote what someone typed (a saved reply's title,
an operator's name in a refusal, a request's channel) show it as typed."""

from __future__ import annotations

from PySide6.QtCore import Qt

from agentcore import FakeClock, SavedReplies
from agentcore.storage import SQLiteStorage
from console.saved_replies import SavedRepliesDialog

HOSTILE = "<img src='https://attacker.example/x.png'><a href='https://x'>Refund issued</a>"


def test_a_refused_title_is_shown_as_typed_not_as_rich_text(qtbot, tmp_path):
    """Another operator's title on the shared list is `<img …><a href…>`: a second
    operator typing the same title is told "already called …" in a label that must
    not render it (an image, a link to click in the editor)."""
    store = SQLiteStorage(tmp_path / "engine.db")
    try:
        replies = SavedReplies(store.replies, FakeClock())
        replies.add(HOSTILE, "body", "mallory")
        dialog = SavedRepliesDialog(replies, lambda: "alice")
        qtbot.addWidget(dialog)
        dialog.reload()
        dialog.start_new()
        dialog.title.setText(HOSTILE)
        dialog.body.setPlainText("mine")
        dialog.save()
        assert "already called" in dialog.error.text()
        assert dialog.error.textFormat() == Qt.TextFormat.PlainText
    finally:
        store.close()


def test_the_outage_banner_shows_a_refusal_as_typed(qtbot):
    """"Hand back all" reports why an item was refused, quoting the queue: "claimed by
    <the other station's operator name>", a name anyone types in Settings."""
    from agentcore import BreakerChanged, HandBackReport, OutageTracker
    from agentcore.settings import EscalationSettings
    from console.outage_banner import OutageBanner

    clock = FakeClock()
    tracker = OutageTracker(clock.now, lambda _rid: None)
    tracker.observe(BreakerChanged("closed", "open", "5 failures", "auto",
                                   cause="endpoint unreachable"))
    tracker.observe(BreakerChanged("half_open", "closed", "probe ok", "auto"))
    banner = OutageBanner(tracker, None, EscalationSettings, clock.now)  # type: ignore[arg-type]
    qtbot.addWidget(banner)
    banner._reported_for = tracker.current
    banner.report = HandBackReport(0, 0, ((12, "escalation 12 is claimed by <img src=x>"),),
                                   ())
    banner.refresh()
    assert "<img src=x>" in banner.text.text()
    assert banner.text.textFormat() == Qt.TextFormat.PlainText


def test_a_requests_channel_is_shown_as_sent(qtbot):
    """The channel is whatever the caller (an API client, a replayed corpus row) sent:
    the detail's title must not render it as rich text. (Older than issue 13.)"""
    from agentcore import Outcome, Request, Route, Status
    from console.detail import DetailPanel
    from console.detail_model import RequestDetail

    model = RequestDetail()
    panel = DetailPanel(model)
    qtbot.addWidget(panel)
    model.show(Outcome(Request("hi", 4, channel="<img src='https://x/y.png'>"), Route.RULE,
                       Status.ANSWERED, answer="hello"))
    assert "<img" in panel.title.text()
    assert panel.title.textFormat() == Qt.TextFormat.PlainText
