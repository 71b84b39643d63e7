"""An engine on the shared database hears what another store on it commits: each
outcome once (2,000 at once too), none of its own twice, the rule set swapped in, a
saved reply and a learned version told. The other store stands for another process
(its own pool, its own origin); tests/agentcore/test_stations.py runs real ones."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from agentcore.database import open_storage
from agentcore.engine import Engine
from agentcore.errors import StorageError
from agentcore.events import (
    Event,
    EventBus,
    RequestAccepted,
    RequestAnswered,
    RulesChanged,
    StoreChanged,
)
from agentcore.models import Outcome, Request, Route, Span, Status
from agentcore.router import Rule
from agentcore.settings import Settings
from agentcore.storage import LearnedRecord
from agentcore.store_follower import StoreFollower

N = 2000


async def until(check: Callable[[], object], *, what: str, timeout_s: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout_s
    while not check():
        if loop.time() > give_up:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.02)


async def test_a_burst_of_outcomes_from_another_process_is_heard_each_once(
        pg_settings: Settings) -> None:
    engine = Engine(pg_settings)
    heard: list[Event] = []
    engine.subscribe(heard.append)
    await engine.start()
    other = open_storage(pg_settings)
    try:
        ids = []
        for i in range(N):
            request = Request(text=f"question {i}", customer_id=1, received_at=1.0 + i)
            other.requests.accept(request)
            other.requests.finish(Outcome(request, Route.RULE, Status.ANSWERED,
                                          answer=f"answer {i}", rule_id="r", intent="contact",
                                          spans=[Span("route", 1.0, 1.001)]))
            ids.append(request.id)
        other.flush()

        def answered() -> list[RequestAnswered]:
            return [e for e in heard if isinstance(e, RequestAnswered)]

        await until(lambda: len(answered()) >= N, what=f"{N} outcomes heard")
        await asyncio.sleep(0.2)  # nothing heard twice, either
        got = answered()
        assert [e.outcome.request.id for e in got] == ids  # each once, in commit order
        assert got[7].outcome.answer == "answer 7"
        assert [s.name for s in got[7].outcome.spans] == ["route"]
        assert len([e for e in heard if isinstance(e, RequestAccepted)]) == N
    finally:
        other.close()
        await engine.close()


async def test_its_own_outcome_is_told_once_and_another_processes_rules_are_taken_up(
        pg_settings: Settings) -> None:
    engine = Engine(pg_settings)
    heard: list[Event] = []
    engine.subscribe(heard.append)
    await engine.start()
    other = open_storage(pg_settings)
    try:
        outcome = await engine.submit(Request(text="what are your opening hours?"))
        assert outcome.status is Status.ANSWERED
        await asyncio.sleep(0.5)  # its own notification came back by now, and was skipped
        assert len([e for e in heard if isinstance(e, RequestAnswered)]) == 1

        zebra = Rule.from_dict({
            "id": "zebra", "name": "Zebra", "pattern": "^zebra crossing$",
            "intent": "contact", "handler": "static", "template": "Zebras cross here.",
            "priority": 90, "enabled": True, "cache": "never"})
        rows = [*other.rules.load_rules(), zebra.as_dict()]
        other.rules.save_rules(rows, other.rules.load_fragments())
        await until(lambda: any(isinstance(e, RulesChanged) for e in heard), what="rules")
        routed = await engine.submit(Request(text="zebra crossing"))
        assert routed.route is Route.RULE and routed.answer == "Zebras cross here."

        other.replies.add("Hours", "We open at 8.", "ann", 1.0)
        await until(lambda: StoreChanged("replies") in heard, what="a saved reply")
        await until(lambda: StoreChanged("audit") in heard, what="its audit entry")
    finally:
        other.close()
        await engine.close()



class _Flaky:
    """A reload (the engine's `reload_rules`, the learned tier's `refresh`) that fails
    its first `failures` calls, as a pool with no free connection or a restarting
    server makes it fail."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise StorageError("reading the rules failed: no connection could be had in time")

    def refresh(self) -> None:
        self()


async def test_a_reload_that_fails_is_tried_again_until_it_takes(pg_settings: Settings):
    """One notification each: a station whose reload failed must not stay on the old
    rules (or the old learned version) until the next change."""
    store, other = open_storage(pg_settings), open_storage(pg_settings)
    bus = EventBus()
    heard: list[Event] = []
    bus.subscribe(heard.append)
    rules, learned = _Flaky(failures=2), _Flaky(failures=1)
    follower = StoreFollower(store, bus, reload_rules=rules,
                             learned=learned)  # type: ignore[arg-type]
    follower.start()
    try:
        other.rules.save_rules(other.rules.load_rules(), other.rules.load_fragments())
        await until(lambda: any(isinstance(e, RulesChanged) for e in heard),
                    what="the rules taken up at the third try")
        assert rules.calls == 3
        other.learned.add(LearnedRecord(1.0, "ann", "train", 10, 0.9, True), b"model")
        await until(lambda: learned.calls == 2, what="the learned version taken up again")
        await until(lambda: heard.count(StoreChanged("learned")) == 2,
                    what="told after each try")
    finally:
        await follower.close()
        other.close()
        store.close()
