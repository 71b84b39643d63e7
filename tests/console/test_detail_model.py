"""The detail pane's model: the request shown, followed live while it runs (headless)."""

from __future__ import annotations

from agentcore import Outcome, Request, Route, Span, Status
from console.detail_model import RequestDetail


def watched() -> tuple[RequestDetail, list[tuple[str, int, bool]]]:
    detail = RequestDetail()
    seen: list[tuple[str, int, bool]] = []
    detail.subscribe(lambda: seen.append((detail.progress, len(detail.spans),
                                          detail.outcome is None)))
    return detail, seen


def test_a_sent_request_is_shown_at_once_and_filled_in_as_it_runs():
    detail, seen = watched()
    mine, other = Request("where is my order?", 7), Request("someone else", 8)
    detail.follow(mine)
    assert detail.request is mine and detail.running and detail.progress == "sent, checking…"
    detail.on_accepted(other)
    detail.on_span(other.id, Span("guard", 1.0, 1.1))
    assert len(seen) == 1  # another request's events change nothing
    detail.on_accepted(mine)
    detail.on_span(mine.id, Span("guard", 1.0, 1.1))
    detail.on_span(mine.id, Span("cache", 1.1, 1.2))
    assert detail.progress == "accepted · working… (2 stages done)"
    assert [s.name for s in detail.spans] == ["guard", "cache"]

    detail.on_outcome(Outcome(other, Route.RULE, Status.ANSWERED))
    assert detail.running
    done = Outcome(mine, Route.RULE, Status.ANSWERED, answer="shipped",
                   spans=[Span("guard", 1.0, 1.1), Span("cache", 1.1, 1.2),
                          Span("route", 1.2, 1.3)])
    detail.on_outcome(done)
    assert detail.outcome is done and not detail.running and detail.progress == ""
    assert len(detail.spans) == 3
    assert seen[-1] == ("", 3, False)


def test_picking_another_request_stops_following_and_clears_the_filter_note():
    detail, _seen = watched()
    mine = Request("refund please", 7)
    detail.follow(mine)
    detail.set_hidden_by_filter(True)
    assert detail.hidden_by_filter
    picked = Outcome(Request("hello", 3), Route.RULE, Status.ANSWERED)
    detail.show(picked)
    assert detail.outcome is picked and not detail.hidden_by_filter and not detail.running
    assert not detail.is_showing(mine.id)
    detail.on_outcome(Outcome(mine, Route.LLM, Status.ANSWERED))  # arrives later: not shown
    assert detail.outcome is picked

    detail.show(None)
    assert detail.request is None
    detail.set_hidden_by_filter(True)  # nothing shown: nothing to be hidden
    assert not detail.hidden_by_filter
