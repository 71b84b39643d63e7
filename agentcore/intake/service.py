"""The intake's core, without HTTP: idempotent submit, waiting, views, callbacks.

Every channel (the REST intake, Chatwoot) submits through `Intake.submit`:
1. the idempotency key is claimed on disk (one request id per key, whoever asks
   first, however many ask at once or after a restart);
2. the engine's own submit runs as a background task, whose first step (no await
   before it) is the guard and the durable accept, so when `submit` returns the
   request is on disk as accepted, or turned away by the guard;
3. its outcome wakes whoever waits on it, and when the channel has a callback, a
   delivery keyed `outcome:<request id>` is committed to the outbox;
4. when an operator (or the agent, after a hand-back) resolves its escalation, a
   second delivery, `request.resolved`, keyed `resolved:<escalation id>`.
The claim keeps the request itself: a crash before the accept leaves a claim that
`resume` runs on the next start, as it re-runs what a crash left accepted and
enqueues the callbacks (finished or resolved) a crash left owed. Several instances on
one database (`agentcore serve` on PostgreSQL) each run only their own: claims and
requests name the instance that took them, and what a dead instance left is taken
over by one survivor, at its start or by its sweep (agentcore.storage._instances).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from agentcore.errors import IdempotencyKeyReused
from agentcore.escalation_model import Escalation, EscalationState
from agentcore.events import EscalationChanged, Event, RequestAccepted, RequestRejected
from agentcore.models import Outcome, OutcomeSummary, Request, Status, storable
from agentcore.storage import IntakeRecord, Storage

if TYPE_CHECKING:
    from agentcore.engine import Engine
    from agentcore.intake.outbox import Outbox

log = logging.getLogger("agentcore.intake")

RATE_LIMITED = "rate limited"  # the guard's reason (agentcore.guard)
KEPT_OUTCOMES = 10_000  # recent outcomes served from memory (the writer batches to disk)
OUTCOME_KEY = "outcome:{}"
RESOLVED_KEY = "resolved:{}"  # per escalation id (a request has at most one)
# The stored answer of an item closed as handled elsewhere is the queue's note for the
# feed, not words the customer was sent: the view shows no answer for it.
HANDLED_ELSEWHERE = "resolved"
# An operator in a console over the same database resolves on another process's bus:
# resolutions this recent are looked for this often (clocks of two machines may differ);
# as often, what an instance gone (killed, stopped) left unfinished is taken over.
SWEEP_S = 5.0
SWEEP_WINDOW_S = 3600.0

OutcomeListener = Callable[[Outcome, IntakeRecord | None], None]


class Intake:
    def __init__(self, engine: Engine, *, outbox: Outbox | None = None,
                 callbacks: dict[str, str] | None = None) -> None:
        self.engine = engine
        self.outbox = outbox
        self.callbacks = dict(callbacks or {})
        self._store: Storage = engine.store
        self._running: dict[str, asyncio.Task[Outcome]] = {}
        # What each running request is, so its view needs no read of the disk (a read of
        # the requests waits for the outcome writer to catch up: under load, milliseconds
        # of a stalled event loop per POST).
        self._requests: dict[str, Request] = {}
        self._recent: OrderedDict[str, Outcome] = OrderedDict()
        # Each recent outcome's claim as read when it finished: what a view shows of it
        # (channel, conversation, external id) never changes after the claim, so the
        # view that answers the POST needs no second read of it (a round trip the event
        # loop waits on, on PostgreSQL).
        self._recent_records: dict[str, IntakeRecord | None] = {}
        # The claims this process wrote, of the requests it runs: at their finish, the
        # record is this one, not a read of what was just written.
        self._claims: dict[str, IntakeRecord] = {}
        self._first_step: dict[str, asyncio.Future[None]] = {}
        self._listeners: list[OutcomeListener] = []
        self._arrivals: deque[float] = deque()  # monotonic times, the last minute's
        self._unsubscribe = engine.subscribe(self._heard)
        self._sweeper: asyncio.Task[None] | None = None

    # -- submitting ----------------------------------------------------------

    async def submit(self, request: Request, *, key: str | None = None,
                     conversation_id: str | None = None,
                     external_id: str | None = None) -> tuple[str, bool]:
        """(request id, created). A key seen before gives its first request's id and
        starts nothing (created False); `external_id` without a key is the key. Keys are
        per channel: a caller's key never meets another channel's (a help desk's
        `external:` keys among them). IdempotencyKeyReused when the key's first request
        is another one (text, customer): that may be someone else's, never shown.
        Returns once the request is accepted on disk (or turned away)."""
        if key is not None:
            key = f"key:{request.channel}:{key}"
        elif external_id is not None:
            key = f"external:{request.channel}:{external_id}"
        if not request.received_at:
            request.received_at = self.engine.clock.now()
        # The request goes to disk with its key, in the claim's transaction: a crash before
        # the engine's accept leaves what `resume` needs to run it.
        record = IntakeRecord(request.id, key, request.channel, conversation_id, external_id,
                              self.callbacks.get(request.channel), text=request.text,
                              customer_id=request.customer_id,
                              received_at=request.received_at)
        rid, created = self._store.intake.claim(record, time.time())
        self._count_arrival()
        if not created:
            _same_request(self._store.intake.record(rid), request)
            task = self._running.get(rid)
            if task is not None:  # its first step may not have run yet: wait for the accept
                first = self._first_step.get(rid)
                waited: list[asyncio.Future[Any]] = [task] if first is None else [first, task]
                await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
                return rid, False
            if self._store.requests.status(rid) is not None:
                return rid, False
            # Claimed, then a crash before the engine accepted it: this delivery runs it.
            request.id = rid
        else:
            self._claims[rid] = replace(record, text=storable(request.text))  # as stored
        await self._start(request, again=False)
        outcome = self._recent.get(rid)
        if outcome is not None and self.rate_limited(outcome):
            self._store.intake.release(rid)  # a retry after Retry-After may become a request
        return rid, created

    async def _start(self, request: Request, *, again: bool) -> None:
        rid = request.id
        first = asyncio.get_running_loop().create_future()
        self._first_step[rid] = first
        coro = self.engine.rerun(request) if again else self.engine.submit(request)
        task = asyncio.get_running_loop().create_task(coro, name=f"request {rid}")
        self._running[rid] = task
        self._requests[rid] = request
        task.add_done_callback(lambda t: self._finished(rid, t))
        # The engine's first step accepts the request (or rejects it) before any await.
        await asyncio.wait([first, task], return_when=asyncio.FIRST_COMPLETED)

    def _heard(self, event: Event) -> None:
        if isinstance(event, EscalationChanged):
            self._owe_resolutions(event.escalation_id)
            return
        if isinstance(event, (RequestAccepted, RequestRejected)):
            rid = event.request.id if isinstance(event, RequestAccepted) \
                else event.outcome.request.id
            first = self._first_step.get(rid)
            if first is not None and not first.done():
                first.set_result(None)

    def _finished(self, rid: str, task: asyncio.Task[Outcome]) -> None:
        self._running.pop(rid, None)
        self._requests.pop(rid, None)
        claimed = self._claims.pop(rid, None)
        first = self._first_step.pop(rid, None)
        if first is not None and not first.done():
            first.set_result(None)
        if task.cancelled():
            return  # shut down mid-way: still accepted on disk, resumed on the next start
        exc = task.exception()
        if exc is not None:  # only the disk fails a submit: still accepted, or never was
            log.error("request %s: %s", rid, exc)
            return
        outcome = task.result()
        self._recent[rid] = outcome
        if len(self._recent) > KEPT_OUTCOMES:
            self._recent_records.pop(self._recent.popitem(last=False)[0], None)
        record = self._recent_records[rid] = claimed or self._store.intake.record(rid)
        if outcome.status is not Status.REJECTED:
            self._owe_callback(rid, record, self.view_of_outcome(outcome, record))
        for listener in self._listeners:
            try:
                listener(outcome, record)
            except Exception:  # a channel's bug must not cost the others their outcome
                log.exception("outcome listener failed for %s", rid)

    def _callback_of(self, record: IntakeRecord | None) -> str | None:
        """Where a claim's callback goes now: its channel's URL in the settings as they are.
        The claim's own URL only says one was promised: an operator who moved the
        channel's callback (the old host retired, its domain let go) or removed it must
        not have a later outcome or resolution post a customer's answer to the old one."""
        if record is None or record.callback is None:
            return None
        url = self.callbacks.get(record.channel)
        if url is None:
            log.debug("request %s: its channel %r has no callback any more: none sent",
                     record.request_id, record.channel)
        return url

    def _owe_callback(self, rid: str, record: IntakeRecord | None,
                      view: dict[str, Any]) -> None:
        url = self._callback_of(record)
        if url is None or self.outbox is None:
            return
        from agentcore.intake.webhook import KIND

        self.outbox.enqueue(KIND, url, {"type": "request.finished", "request": view},
                            OUTCOME_KEY.format(rid))

    def _owe_resolutions(self, escalation_id: int | None = None, *,
                         resolved_since: float | None = None) -> int:
        """Enqueues `request.resolved` for each resolved escalation (this one, those
        resolved since, or every one) of an intake request with a callback that has none
        queued yet; how many. Called on the loop from the bus (a reply, a close, a
        hand-back's answer), by the sweep (a console's, on the same database) and by
        `resume` (what a crash left owed)."""
        if self.outbox is None:
            return 0
        from agentcore.intake.webhook import KIND

        if escalation_id is not None:
            self._store.requests.flush()  # a hand-back's re-run resolves it with its outcome
        owed = self._store.intake.owed_resolutions(escalation_id,
                                                   resolved_since=resolved_since)
        for eid, rid in owed:
            url = self._callback_of(self._store.intake.record(rid))
            view = self.view(rid)
            if url is None or view is None:
                continue
            self.outbox.enqueue(KIND, url,
                                {"type": "request.resolved", "request": view},
                                RESOLVED_KEY.format(eid))
        return len(owed)

    def add_outcome_listener(self, listener: OutcomeListener) -> Callable[[], None]:
        """`listener(outcome, record)` after each outcome of a request the intake ran
        (record None: not submitted through the intake). Called on the loop; it must
        not block (enqueue to the outbox, don't send)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def rerun(self, rid: str) -> bool:
        """Re-runs a request an operator handed back (an attached station's hand-back:
        its note is on disk with the request, accepted again); False when it is not
        waiting for one. Returns once it is running."""
        if rid in self._running or self.engine.answering(rid):
            return True
        if self._store.requests.status(rid) != "accepted":
            return False
        request = self._store.requests.request(rid)
        if request is None or request.note is None:
            return False  # accepted without a note: a first run under way elsewhere
        await self._start(request, again=True)
        return True

    async def resume(self) -> int:
        """Runs every request a crash left claimed but not accepted, runs again every one
        it left accepted, and enqueues the callbacks (finished, resolved) it left owed;
        how many requests it started. Returns once they are running. What another live
        instance on the database claimed or is answering is its own, never run here;
        a dead one's is taken over (`take_over`), now and by the sweep every SWEEP_S."""
        for rid in self._store.intake.owed_callbacks():
            view = self.view(rid)
            if view is not None:
                self._owe_callback(rid, self._store.intake.record(rid), view)
        self._owe_resolutions()
        started = await self._take_over()
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep(),
                                                                   name="intake sweep")
        return started

    async def _take_over(self) -> int:
        """Starts what no live instance is running (agentcore.storage._instances): claims
        never accepted, and accepted requests unfinished, each taken by one conditional
        write (of two survivors, one runs it); how many it started."""
        claimed = [r for r in (record.request() for record in self._store.intake.take_over())
                   if r is not None and r.id not in self._running]
        for request in claimed:  # never accepted: a first submit, through the guard
            await self._start(request, again=False)
            outcome = self._recent.get(request.id)
            if outcome is not None and self.rate_limited(outcome):
                self._store.intake.release(request.id)
        # This store's own unfinished requests are also what its engine is answering for
        # someone else now (the console's traffic, when its intake is turned on or
        # restarted): not run again.
        unfinished = [r for r in self._store.requests.take_over()
                      if r.id not in self._running and not self.engine.answering(r.id)]
        for request in unfinished:
            await self._start(request, again=True)
        return len(claimed) + len(unfinished)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                # Another instance killed meanwhile: its requests are finished here,
                # without waiting for anyone's restart.
                taken = await self._take_over()
                if taken:
                    log.warning("took over %d requests an instance gone left unfinished",
                                taken)
            except Exception:  # the disk: the next sweep, or the next start, tries again
                log.warning("taking over unfinished requests failed", exc_info=True)
            if self.outbox is None:
                continue
            try:
                self._owe_resolutions(resolved_since=self.engine.clock.now() - SWEEP_WINDOW_S)
            except Exception:  # the disk: the next sweep, or the next start, tries again
                log.warning("looking for resolved escalations failed", exc_info=True)

    async def stop_sweeping(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None

    # -- waiting and reading -------------------------------------------------

    async def wait(self, rid: str, timeout_s: float) -> bool:
        """Whether the request has its outcome within `timeout_s`."""
        task = self._running.get(rid)
        if task is None:
            return True
        if timeout_s > 0:
            await asyncio.wait([task], timeout=timeout_s)
        return task.done()

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def drain(self, grace_s: float) -> int:
        """Lets in-flight requests finish within `grace_s`; cancels the rest (they stay
        accepted on disk); how many were cut short."""
        tasks = list(self._running.values())
        if not tasks:
            return 0
        _, late = await asyncio.wait(tasks, timeout=grace_s) if grace_s > 0 else (set(),
                                                                                   set(tasks))
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        return len(late)

    def close(self) -> None:
        self._unsubscribe()
        if self._sweeper is not None:  # `stop_sweeping` first, on the loop, to wait for it
            self._sweeper.cancel()

    def view(self, rid: str) -> dict[str, Any] | None:
        """The request as it stands: GET's body and POST's; None when unknown. An
        escalated one is read from the disk: the queue (this process's, or a console's
        on the same database) may have resolved it since."""
        outcome = self._recent.get(rid)
        record = self._recent_records[rid] if rid in self._recent_records \
            else self._store.intake.record(rid)
        if outcome is not None and outcome.status is not Status.ESCALATED:
            return self.view_of_outcome(outcome, record)
        if rid not in self._running:
            summary = self._store.requests.outcome(rid)
            if summary is not None:
                request = outcome.request if outcome else self._store.requests.request(rid)
                return self._view_of_summary(summary, request, record)
            if outcome is not None:  # not on disk yet: the writer is behind
                return self.view_of_outcome(outcome, record)
        request = self._requests.get(rid) or self._store.requests.request(rid)
        if request is None:
            return None
        return _view(rid, "accepted", request, record)

    def view_of_outcome(self, outcome: Outcome, record: IntakeRecord | None) -> dict[str, Any]:
        view = _view(outcome.request.id, str(outcome.status), outcome.request, record)
        view.update(answer=outcome.answer or None, route=str(outcome.route),
                    intent=outcome.intent, latency_ms=round(outcome.latency_ms, 3))
        if outcome.status is Status.REJECTED:
            view["reason"] = _rejection(outcome.errors)
        if outcome.status is Status.ESCALATED:
            view["escalation"] = self._escalation(outcome.request.id, flushed=False) or {
                "id": None, "reason": str(outcome.escalation_reason)}
        return view

    def _view_of_summary(self, summary: OutcomeSummary, request: Request | None,
                         record: IntakeRecord | None) -> dict[str, Any]:
        """The stored outcome: once an operator replied it is theirs (status answered,
        route human, the reply as the answer), and `escalation` says how it ended."""
        view = _view(summary.request_id, str(summary.status), request, record)
        view.update(answer=summary.answer or None, route=str(summary.route),
                    intent=summary.intent, latency_ms=round(summary.latency_ms, 3))
        if summary.status is Status.REJECTED:
            view["reason"] = _rejection(list(summary.errors))
        escalation = self._escalation(summary.request_id, flushed=True)
        if escalation is not None:
            view["escalation"] = escalation
            if escalation["resolution"] == HANDLED_ELSEWHERE:
                view["answer"] = None  # the queue's note, not words the customer got
        return view

    def _escalation(self, rid: str, *, flushed: bool) -> dict[str, Any] | None:
        """The request's escalation as it stands, None: it has none."""
        escalation_id = self._store.escalations.of_request(rid)
        if escalation_id is None and not flushed:  # written with the outcome, by the writer
            self._store.requests.flush()
            escalation_id = self._store.escalations.of_request(rid)
        item = None if escalation_id is None else self._store.escalations.get(
            escalation_id, self.engine.clock.now())
        return None if item is None else _escalation_view(item)

    @staticmethod
    def rate_limited(outcome: Outcome) -> bool:
        return outcome.status is Status.REJECTED and _rejection(outcome.errors) == RATE_LIMITED

    def outcome(self, rid: str) -> Outcome | None:
        return self._recent.get(rid)

    def retry_after_s(self) -> int:
        """When a customer refused for rate gets a token again (the guard refills
        `rate_per_minute` a minute)."""
        rate = min(self.engine.settings.guard.rate_per_minute,
                   self.engine.settings.guard.anonymous_rate_per_minute)
        return max(1, math.ceil(60.0 / max(1, rate)))

    # -- the status bar's figure ---------------------------------------------

    def _count_arrival(self) -> None:
        now = time.monotonic()
        self._arrivals.append(now)
        while self._arrivals and self._arrivals[0] < now - 60.0:
            self._arrivals.popleft()

    def per_minute(self) -> int:
        now = time.monotonic()
        while self._arrivals and self._arrivals[0] < now - 60.0:
            self._arrivals.popleft()
        return len(self._arrivals)


def _same_request(first: IntakeRecord | None, again: Request) -> None:
    """Refuses a redelivery whose claim is another request (a claim of a release before
    migration 7 kept no text: its customer can't be compared, and it is taken)."""
    if first is None or first.text is None:
        return
    # Compared as stored: a claim's text is kept `storable` (NUL as U+FFFD).
    if (storable(first.text), first.customer_id, first.channel) != (
            storable(again.text), again.customer_id, again.channel):
        raise IdempotencyKeyReused(
            "this Idempotency-Key (or external_id) was used for another request: a "
            "redelivery must repeat the first request as it was; a new request needs a "
            "new key")


def _escalation_view(item: Escalation) -> dict[str, Any]:
    resolved = item.state is EscalationState.RESOLVED
    return {"id": item.id, "reason": str(item.reason), "state": str(item.state),
            "resolution": item.resolution if resolved else None,
            "resolved_by": item.resolved_by if resolved else None,
            "resolved_at": item.resolved_at if resolved else None}


def _rejection(errors: list[str] | tuple[str, ...]) -> str | None:
    for error in errors:
        if error.startswith("rejected: "):
            return error.removeprefix("rejected: ")
    return None


def _view(rid: str, status: str, request: Request | None,
          record: IntakeRecord | None) -> dict[str, Any]:
    return {
        "id": rid, "status": status, "answer": None, "route": None, "intent": None,
        "escalation": None,
        "channel": record.channel if record else (request.channel if request else None),
        "customer_id": request.customer_id if request else None,
        "conversation_id": record.conversation_id if record else None,
        "external_id": record.external_id if record else None,
        "received_at": request.received_at if request else None,
        "status_url": f"/v1/requests/{rid}",
    }
