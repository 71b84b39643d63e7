"""What the request-detail pane shows: one request, followed live while it runs.

The pane shows the request the operator picked in the feed, or the one they just
sent from Compose. A sent request is shown at once ("sent", then "accepted ·
working…"), its trace grows as its spans finish, and its outcome fills the rest
when it arrives. It also knows whether the feed's filters hide the request, so
the pane can say so instead of silently showing another. Plain Python with plain
callbacks; `console.detail.DetailPanel` draws it.
"""

from __future__ import annotations

from collections.abc import Callable

from agentcore import Outcome, Request, Span

Listener = Callable[[], None]


class RequestDetail:
    def __init__(self) -> None:
        self.request: Request | None = None
        self.outcome: Outcome | None = None  # None while a followed request runs
        self.spans: list[Span] = []
        self.accepted = False
        self.hidden_by_filter = False
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """`listener()` after every change; returns the unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @property
    def running(self) -> bool:
        """A request is shown that has no outcome yet (sent from Compose)."""
        return self.request is not None and self.outcome is None

    @property
    def progress(self) -> str:
        """What a running request is doing, for the pane's status line ("" when done)."""
        if not self.running:
            return ""
        if not self.accepted:
            return "sent, checking…"
        finished = len(self.spans)
        return f"accepted · working… ({finished} stage{'s' if finished != 1 else ''} done)"

    def is_showing(self, request_id: str) -> bool:
        return self.request is not None and self.request.id == request_id

    # -- what the operator does ---------------------------------------------------

    def show(self, outcome: Outcome | None) -> None:
        """The request the operator picked in the feed (None: nothing selected)."""
        self.request = outcome.request if outcome is not None else None
        self.outcome = outcome
        self.spans = list(outcome.spans) if outcome is not None else []
        self.accepted = outcome is not None
        self.hidden_by_filter = False
        self._changed()

    def follow(self, request: Request) -> None:
        """A request the operator just sent: shown now, filled in as it runs."""
        self.request = request
        self.outcome = None
        self.spans = []
        self.accepted = False
        self.hidden_by_filter = False
        self._changed()

    def set_hidden_by_filter(self, hidden: bool) -> None:
        if hidden != self.hidden_by_filter and self.request is not None:
            self.hidden_by_filter = hidden
            self._changed()

    # -- what the engine says (every request's events: only the shown one counts) ---

    def on_accepted(self, request: Request) -> None:
        if self.running and self.is_showing(request.id) and not self.accepted:
            self.accepted = True
            self._changed()

    def on_span(self, request_id: str, span: Span) -> None:
        if self.running and self.is_showing(request_id):
            self.spans.append(span)
            self._changed()

    def on_outcome(self, outcome: Outcome) -> None:
        if self.running and self.is_showing(outcome.request.id):
            self.outcome = outcome
            self.spans = list(outcome.spans)
            self.accepted = True
            self._changed()

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()
