"""An engine on the shared database hears what another store on it commits: each
outcome once (2,000 at once too), none of its own twice, the rule set swapped in, a
saved reply and a learned version told. The other store stands for another process
(its own pool, its own origin); tests/agentcore/test_stations.py runs real ones."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from agentcore.database import open_storage
from agentcore.engine import Engine
from agentcore.errors import StorageError
from agentcore.events import (
    DatabaseLink,
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
from agentcore.storage import LearnedRecord, Storage, VersionRecord
from agentcore.store_follower import READ_TRIES, StoreFollower

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
    """A reload (the engine's `stored_rules`, the learned tier's `refresh`) that fails
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
    follower = StoreFollower(store, bus, read_rules=rules, take_rules=lambda _: None,
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


async def test_reading_the_rules_leaves_the_loop_free_and_changes_heard_meanwhile_read_once(
        pg_settings: Settings) -> None:
    """A station's loop is its GUI: a rule set read from a slow (or vanishing) database
    must not freeze it. Here the read returns only once the loop itself lets it go."""
    store, other = open_storage(pg_settings), open_storage(pg_settings)
    bus = EventBus()
    heard: list[Event] = []
    bus.subscribe(heard.append)
    reading, released = threading.Event(), threading.Event()
    reads: list[bool] = []

    def read() -> bool:
        reading.set()
        let_go = released.wait(timeout=10)  # False: the loop was stuck in here
        reads.append(let_go)
        return let_go

    taken: list[bool] = []
    follower = StoreFollower(store, bus, read_rules=read, take_rules=taken.append)
    follower.start()
    try:
        rows, fragments = other.rules.load_rules(), other.rules.load_fragments()
        other.rules.save_rules(rows, fragments)
        await until(reading.is_set, what="the read begun")
        for _ in range(2):  # two more saves heard while it reads: one read more
            other.rules.save_rules(rows, fragments)
        await asyncio.sleep(0.5)
        assert reads == []  # still reading, and the loop runs
        released.set()
        await until(lambda: any(isinstance(e, RulesChanged) for e in heard), what="told")
        await asyncio.sleep(0.3)
        assert reads == [True, True] and taken == [True, True]
        assert len([e for e in heard if isinstance(e, RulesChanged)]) == 1
    finally:
        await follower.close()
        other.close()
        store.close()


async def test_a_read_begun_before_this_engines_apply_does_not_bring_back_what_it_replaced(
        pg_settings: Settings) -> None:
    engine = Engine(pg_settings)
    try:
        begun = engine.stored_rules()  # the follower's read, on its thread, before the apply
        zebra = Rule.from_dict({
            "id": "zebra", "name": "Zebra", "pattern": "^zebra crossing$",
            "intent": "contact", "handler": "static", "template": "Zebras cross here.",
            "priority": 90, "enabled": True, "cache": "never"})
        rules = [*engine.router.rules, zebra]
        engine.apply_rules(rules, version=VersionRecord(
            2.0, "ann", "apply", "zebra", None, tuple(r.as_dict() for r in rules), {}))
        assert not engine.take_stored_rules(begun)
        routed = await engine.submit(Request(text="zebra crossing"))
        assert routed.answer == "Zebras cross here."
        assert engine.take_stored_rules(engine.stored_rules())  # read after: its own set
        assert "zebra" in [r.id for r in engine.router.rules]
        # A set saved without a version keeps the version id: still not brought back.
        begun = engine.stored_rules()
        engine.apply_rules([r for r in engine.router.rules if r.id != "zebra"])
        assert not engine.take_stored_rules(begun)
        assert "zebra" not in [r.id for r in engine.router.rules]
    finally:
        await engine.close()


class _ReadsFailing:
    """A store whose reads of requests fail the first `failures` times, as a pool with
    no connection free makes them fail while the link to the server stays up."""

    def __init__(self, store: Storage, failures: int) -> None:
        self._store = store
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @property
    def requests(self) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise StorageError("reading the requests failed: no connection could be had")
        return self._store.requests


async def test_requests_whose_read_back_failed_are_read_again_in_order(
        pg_settings: Settings) -> None:
    """The link stayed up, so no resync comes: a feed would miss them for good."""
    store, other = open_storage(pg_settings), open_storage(pg_settings)
    failing = _ReadsFailing(store, failures=2)
    bus = EventBus()
    heard: list[Event] = []
    bus.subscribe(heard.append)
    follower = StoreFollower(failing, bus, read_rules=lambda: None,  # type: ignore[arg-type]
                             take_rules=lambda _: None, read_requests=lambda: True)
    follower.start()
    try:
        ids = []
        for i in range(3):
            request = Request(text=f"question {i}", customer_id=1, received_at=1.0 + i)
            other.requests.accept(request)
            other.requests.finish(Outcome(request, Route.RULE, Status.ANSWERED,
                                          answer=f"answer {i}", rule_id="r", intent="contact"))
            ids.append(request.id)
        other.flush()
        await until(lambda: len([e for e in heard if isinstance(e, RequestAnswered)]) == 3,
                    what="all three answers, after two failed reads")
        assert failing.failures == 0
        assert [e.request.id for e in heard if isinstance(e, RequestAccepted)] == ids
        assert [e.outcome.request.id for e in heard
                if isinstance(e, RequestAnswered)] == ids
    finally:
        await follower.close()
        other.close()
        store.close()


async def test_requests_the_store_keeps_failing_to_read_are_given_up_for_a_resync(
        pg_settings: Settings) -> None:
    """A failure that never passes (a column a newer release migrated) must not stop
    the feed for good: after READ_TRIES the views are told to read the store again,
    and what comes after is read as before."""
    store, other = open_storage(pg_settings), open_storage(pg_settings)
    failing = _ReadsFailing(store, failures=2 * READ_TRIES)
    bus = EventBus()
    heard: list[Event] = []
    bus.subscribe(heard.append)
    follower = StoreFollower(failing, bus, read_rules=lambda: None,  # type: ignore[arg-type]
                             take_rules=lambda _: None, read_requests=lambda: True)
    follower.start()
    try:
        stuck = Request(text="question", customer_id=1, received_at=1.0)
        other.requests.accept(stuck)
        await until(lambda: DatabaseLink(True, None) in heard, what="the views told to resync")
        assert failing.failures == READ_TRIES
        # Still failing: the next batch is given up too, without another resync (each
        # rereads every view, and would most likely fail alike).
        other.requests.accept(Request(text="still stuck", customer_id=1, received_at=1.5))
        await until(lambda: failing.failures == 0, what="the next batch given up")
        await asyncio.sleep(0.2)
        assert heard.count(DatabaseLink(True, None)) == 1
        assert not any(isinstance(e, RequestAccepted) for e in heard)
        after = Request(text="another question", customer_id=1, received_at=2.0)
        other.requests.accept(after)
        await until(lambda: any(isinstance(e, RequestAccepted) for e in heard),
                    what="the next request read")
        assert [e.request.id for e in heard if isinstance(e, RequestAccepted)] == [after.id]
    finally:
        await follower.close()
        other.close()
        store.close()


def _cut_listener(settings: Settings, password: str) -> int:
    import psycopg

    assert settings.database_url is not None
    with psycopg.connect(settings.database_url, password=password, autocommit=True) as conn:
        pids = [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'agentcore-changes'"
            " AND datname = current_database()").fetchall()]
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    return len(pids)


async def test_back_after_a_lost_link_the_views_are_told_once_the_rules_are_taken_up(
        pg_settings: Settings, postgres_server: Any) -> None:
    """The rules view rebuilds its draft from the router when told the link is back:
    told before the swap, an operator would edit (and apply over) the set replaced."""
    store = open_storage(pg_settings)
    bus = EventBus()
    order: list[str] = []
    bus.subscribe(lambda e: order.append(f"link {'up' if e.up else 'down'}")
                  if isinstance(e, DatabaseLink) else None)
    reading, released = threading.Event(), threading.Event()

    def read() -> str:
        reading.set()
        released.wait(timeout=10)
        return "the set as stored now"

    follower = StoreFollower(store, bus, read_rules=read,
                             take_rules=lambda found: order.append(f"took {found}"))
    follower.start()
    try:
        await until(lambda: _cut_listener(pg_settings, postgres_server.password) == 1,
                    what="the live link cut")
        await until(reading.is_set, what="the rules read again once the link is back")
        await asyncio.sleep(0.3)
        assert order == ["link down"]  # not yet told: the rules are still being read
        released.set()
        await until(lambda: "link up" in order, what="told the link is back")
        assert order == ["link down", "took the set as stored now", "link up"]
    finally:
        await follower.close()
        store.close()


async def test_back_after_a_lost_link_with_the_rules_unreadable_the_views_are_told_anyway(
        pg_settings: Settings, postgres_server: Any) -> None:
    """A station must not show the link lost for good because one read keeps failing:
    the views resync on the router as it is, and the take, when it comes, is told."""
    store = open_storage(pg_settings)
    bus = EventBus()
    order: list[str] = []

    def told(event: Event) -> None:
        if isinstance(event, DatabaseLink):
            order.append(f"link {'up' if event.up else 'down'}")
        elif isinstance(event, RulesChanged):
            order.append("rules changed")

    bus.subscribe(told)
    readable = threading.Event()

    def read() -> str:
        if not readable.is_set():
            raise StorageError("reading the rules failed: no connection could be had")
        return "the set"

    follower = StoreFollower(store, bus, read_rules=read,
                             take_rules=lambda found: order.append(f"took {found}"))
    follower.start()
    try:
        await until(lambda: _cut_listener(pg_settings, postgres_server.password) == 1,
                    what="the live link cut")
        await until(lambda: "link up" in order, what="told the link is back")
        assert order == ["link down", "link up"]
        readable.set()
        await until(lambda: "rules changed" in order, what="the take told")
        assert order == ["link down", "link up", "took the set", "rules changed"]
    finally:
        await follower.close()
        store.close()
