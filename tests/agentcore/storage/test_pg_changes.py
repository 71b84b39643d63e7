"""What one store commits reaches another store's change feed on the same database
(LISTEN/NOTIFY): each kind with its ids and the writer's origin, nothing for a write
refused or rolled back, a big batch whole, and a listener whose connection is cut, or
whose server restarts, says so and says when it is back (its consumer then resyncs)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from agentcore.errors import DuplicateRequest
from agentcore.escalation_model import PendingStatus
from agentcore.storage import CHANGE_KINDS, Change, NoChanges, SQLiteStorage
from agentcore.storage._learned import LearnedRecord
from agentcore.storage._pg import PostgresStorage
from agentcore.storage._pg_notify import MAX_PAYLOAD, notify, parse, payloads
from tests.agentcore.storage.records import answered, escalated, request
from tests.agentcore.storage.test_rules import rule_set, version_of
from tests.conftest import REPO

T = 5_000.0
WAIT_S = 30.0  # the longest any test waits for an announcement: a loaded machine's


class Heard:
    """What a feed told, gathered from its thread, with a way to wait for more."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.links: list[tuple[bool, str | None]] = []
        self.threads: set[str] = set()
        self._cond = threading.Condition()

    def change(self, change: Change) -> None:
        with self._cond:
            self.changes.append(change)
            self.threads.add(threading.current_thread().name)
            self._cond.notify_all()

    def link(self, up: bool, why: str | None) -> None:
        with self._cond:
            self.links.append((up, why))
            self._cond.notify_all()

    def until(self, done: Callable[[Heard], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        with self._cond:
            while not done(self):
                left = deadline - time.monotonic()
                assert left > 0, f"never heard {what}: {self.changes[-5:]} {self.links}"
                self._cond.wait(left)

    def ids(self, kind: str, origin: str) -> list[str]:
        with self._cond:
            return [i for c in self.changes if c.kind == kind and c.origin == origin
                    for i in c.ids]

    def heard(self, kind: str, origin: str, *ids: str) -> None:
        self.until(lambda h: set(ids) <= set(h.ids(kind, origin)), f"{kind} {ids}")


@pytest.fixture
def two(pg_url: str, postgres_server: Any) -> Iterator[tuple[PostgresStorage, PostgresStorage]]:
    a = PostgresStorage(pg_url, postgres_server.password)
    b = PostgresStorage(pg_url, postgres_server.password)
    yield a, b
    a.close()
    b.close()


def listening(store: PostgresStorage) -> Heard:
    heard = Heard()
    store.changes().listen(heard.change, heard.link)
    return heard


def test_each_write_of_one_store_reaches_the_others_feed_with_its_ids(two):
    a, b = two
    heard = listening(b)

    a.requests.accept(request(1, at=T))
    heard.heard("accepted", a.origin, "req-1")
    a.requests.finish(answered(request(1, at=T)))
    heard.heard("finished", a.origin, "req-1")

    a.requests.accept(request(2, at=T))
    a.requests.finish(escalated(request(2, at=T)))
    a.flush()
    item = a.escalations.of_request("req-2")
    assert item is not None
    heard.heard("finished", a.origin, "req-2")
    heard.heard("escalation", a.origin, str(item))  # opened by the outcome's batch

    before = len(heard.ids("escalation", a.origin))
    assert a.escalations.claim(item, "ana", T, T + 600)
    heard.until(lambda h: len(h.ids("escalation", a.origin)) > before, "the claim")
    heard.until(lambda h: h.ids("audit", a.origin), "the claim's audit entry")

    rules, fragments = rule_set("r")
    a.rules.save_rules(rules, fragments, version_of(rules, fragments, "ana", 1))
    heard.heard("rules", a.origin, str(a.rules.latest_version_id()))

    cache = a.answer_cache()
    cache.invalidate(["order:1", "customer:7"])
    heard.heard("cache", a.origin, *(str(seq) for seq, _ in cache.log_since(0, 10)))

    reply = a.replies.add("Thanks", "Thank you for waiting", "ana", T)
    assert reply is not None
    heard.heard("replies", a.origin, str(reply))
    learned = a.learned.add(LearnedRecord(T, "ana", "train", 10, 0.8, True), b"model")
    heard.heard("learned", a.origin, str(learned.id))

    assert {c.kind for c in heard.changes} <= set(CHANGE_KINDS)
    assert {c.origin for c in heard.changes} == {a.origin}  # b wrote nothing
    assert heard.threads == {"agentcore-changes"}  # told on the feed's thread
    assert heard.links == []  # the link never dropped


def test_every_change_of_a_queue_item_is_announced_once_with_its_id(two):
    a, b = two
    heard = listening(b)
    items = []
    for n in range(3):
        a.requests.accept(request(n, at=T))
        a.requests.finish(escalated(request(n, at=T)))
        a.flush()
        found = a.escalations.of_request(f"req-{n}")
        assert found is not None
        items.append(found)
    one, two_, three = items
    heard.until(lambda h: len(h.ids("escalation", a.origin)) == 3, "three items opened")
    q = a.escalations
    record = {"by": "ana", "at": T + 3, "arguments": {"order_id": 1}}
    actions: list[tuple[int, Callable[[], bool | None]]] = [
        (one, lambda: q.claim(one, "ana", T, T + 600)),
        (one, lambda: q.save_draft(one, "ana", T + 1, "draft", "")),
        (one, lambda: q.start_approval(one, "ana", T + 2, record, T + 60)),
        (one, lambda: q.end_approval(one, PendingStatus.APPROVED, record)),
        (one, lambda: q.reply(q.get(one, T + 4), "ana", T + 4, "Refunded", None)),
        (two_, lambda: q.claim(two_, "ana", T, T + 600)),
        (two_, lambda: q.deny(two_, "ana", T + 1, {"by": "ana", "reason": "no"})),
        (two_, lambda: q.hand_back(q.get(two_, T + 2), "ana", T + 2, "try again", None)),
        (three, lambda: q.claim(three, "ana", T, T + 600)),
        (three, lambda: q.release(three, "ana", T + 1)),
        (three, lambda: q.claim(three, "ana", T + 2, T + 600)),
        (three, lambda: q.resolve(q.get(three, T + 3), "ana", T + 3)),
    ]
    for n, (item, act) in enumerate(actions, start=4):
        assert act() is not False
        heard.until(lambda h, n=n: len(h.ids("escalation", a.origin)) >= n, f"action {n}")
        assert heard.ids("escalation", a.origin)[-1] == str(item)
    a.rules.reject_suggestion("k", r"\bk\b", "other", author="ana", at=T)  # a marker after
    heard.until(lambda h: any(c.kind == "rules" for c in h.changes), "the marker")
    assert len(heard.ids("escalation", a.origin)) == 3 + len(actions)  # none twice
    # All but the draft keep an audit entry, each announced.
    assert len(heard.ids("audit", a.origin)) == len(actions) - 1


def test_a_refused_or_rolled_back_write_announces_nothing(two, pg_url, postgres_server):
    a, b = two
    heard = listening(b)
    a.requests.accept(request(1, at=T))
    a.requests.finish(escalated(request(1, at=T)))
    a.flush()
    item = a.escalations.of_request("req-1")
    assert item is not None
    assert b.escalations.claim(item, "bo", T, T + 600)
    heard.until(lambda h: h.ids("escalation", b.origin), "bo's claim")

    assert not a.escalations.claim(item, "ana", T + 1, T + 601)  # bo holds it
    assert not a.escalations.release(item, "ana", T + 2)
    with pytest.raises(DuplicateRequest):
        a.requests.accept(request(1, at=T))  # the id is taken
    with psycopg.connect(pg_url, password=postgres_server.password) as conn, \
            pytest.raises(ZeroDivisionError), conn.transaction():
        notify(conn, "rules", ["rolled-back"], a.origin)
        raise ZeroDivisionError
    a.rules.reject_suggestion("k", r"\bk\b", "other", author="ana", at=T)  # a marker after
    heard.until(lambda h: any(c.kind == "rules" for c in h.changes), "the marker")

    assert heard.ids("escalation", a.origin) == [str(item)]  # the outcome's only
    assert heard.ids("accepted", a.origin) == ["req-1"]  # once, not for the refused one
    assert "rolled-back" not in heard.ids("rules", a.origin)


def test_a_batch_of_two_thousand_outcomes_arrives_whole(two):
    a, b = two
    heard = listening(b)
    pad = "-" + "x" * 50  # long ids: a batch's ids fill several notifications
    reqs = [request(n, at=T + n) for n in range(2000)]
    reqs = [type(r)(r.text, customer_id=r.customer_id, id=r.id + pad, received_at=r.received_at)
            for r in reqs]
    for r in reqs:
        a.requests.accept(r)
        a.requests.finish(answered(r, spans=1))
    a.flush()
    want = {r.id for r in reqs}
    heard.until(lambda h: want <= set(h.ids("finished", a.origin)), "every outcome")
    assert len(heard.ids("finished", a.origin)) == 2000  # each once


def test_payloads_stay_under_postgresqls_limit_and_read_back_as_written():
    odd = ["a,b", "c|d", "100%", "ünïcødé" * 3, "plain", "nul\x00byte"]
    many = [f"{n:06d}-" + "é" * 40 for n in range(1000)] + odd
    sent = payloads("finished", many, "o1")
    assert len(sent) > 1
    assert all(len(p.encode()) < MAX_PAYLOAD for p in sent)
    back = [parse(p) for p in sent]
    assert [i for c in back if c is not None for i in c.ids] == many
    assert {(c.kind, c.origin) for c in back if c is not None} == {("finished", "o1")}
    assert parse("finished|o1|") == Change("finished", (), "o1")
    assert parse("garbage") is None and parse("nope|o1|x") is None
    assert payloads("rules", [], "o1") == ["rules|o1|"]  # "something changed": reread
    with pytest.raises(ValueError):
        payloads("weather", ["1"], "o1")


def test_an_unreadable_notification_is_skipped_and_the_feed_goes_on(two, pg_url,
                                                                      postgres_server):
    a, b = two
    heard = listening(b)
    with psycopg.connect(pg_url, password=postgres_server.password, autocommit=True) as conn:
        conn.execute("SELECT pg_notify('agentcore_changes', 'not|one of ours')")
        conn.execute("SELECT pg_notify('agentcore_changes', 'garbage')")
    a.requests.accept(request(1, at=T))
    heard.heard("accepted", a.origin, "req-1")
    assert [c.kind for c in heard.changes] == ["accepted"]


def _listener_pids(conn: psycopg.Connection[Any]) -> list[int]:
    return [int(pid) for (pid,) in conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'agentcore-changes'"
        " AND datname = current_database()").fetchall()]


def test_a_cut_listen_connection_is_said_reconnected_and_the_feed_flows_again(
        two, pg_url, postgres_server):
    a, b = two
    heard = listening(b)
    with psycopg.connect(pg_url, password=postgres_server.password, autocommit=True) as conn:
        (pid,) = _listener_pids(conn)
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    heard.until(lambda h: len(h.links) >= 2, "the link lost and back")
    (lost, why), back = heard.links
    assert lost is False and why is not None
    assert f"lost the live link to the PostgreSQL server at {a.where}" in why
    assert back == (True, None)
    a.requests.accept(request(1, at=T))
    heard.heard("accepted", a.origin, "req-1")
    with psycopg.connect(pg_url, password=postgres_server.password, autocommit=True) as conn:
        assert len(_listener_pids(conn)) == 1  # the new connection, not a second one


def test_a_server_restart_is_said_and_the_feed_flows_again_when_it_is_back(own_server):
    url = own_server.url("agent")
    a = PostgresStorage(url, own_server.password)
    b = PostgresStorage(url, own_server.password)
    try:
        heard = listening(b)
        own_server.stop()
        heard.until(lambda h: len(h.links) >= 1, "the link lost")
        assert heard.links[0][0] is False
        own_server.start()
        heard.until(lambda h: len(h.links) >= 2, "the link back")
        assert heard.links[1] == (True, None)
        assert all(up is False for up, _ in heard.links[:1])
        deadline = time.monotonic() + WAIT_S  # a's pool reconnects on a backoff of its own
        while True:
            try:
                a.requests.accept(request(1, at=T))
                break
            except Exception:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        heard.heard("accepted", a.origin, "req-1")
    finally:
        a.close()
        b.close()


def test_a_feed_that_cannot_reach_its_server_says_so_and_close_still_stops_it(own_server):
    url = own_server.url("agent")
    store = PostgresStorage(url, own_server.password)
    try:
        own_server.stop()
        heard = Heard()
        feed = store.changes()
        feed.listen(heard.change, heard.link)  # returns: the feed keeps trying
        heard.until(lambda h: h.links, "the link lost")
        up, why = heard.links[0]
        assert up is False
        assert why is not None and f"no PostgreSQL server answers at {store.where}" in why
        feed.close()
        assert not [t for t in threading.enumerate() if t.name == "agentcore-changes"]
        own_server.start()
    finally:
        store.close()


def test_closing_the_store_stops_its_feeds_and_their_connections(pg_url, postgres_server):
    store = PostgresStorage(pg_url, postgres_server.password)
    listening(store)
    listening(store)
    with psycopg.connect(pg_url, password=postgres_server.password, autocommit=True) as conn:
        assert len(_listener_pids(conn)) == 2
        store.close()
        assert not [t for t in threading.enumerate() if t.name == "agentcore-changes"]
        deadline = time.monotonic() + WAIT_S
        while _listener_pids(conn):  # the server notices the closed socket at once
            assert time.monotonic() < deadline
            time.sleep(0.05)


CHILD = """
import sys
from agentcore.storage._pg import PostgresStorage
from tests.agentcore.storage.records import request
store = PostgresStorage(sys.argv[1], sys.argv[2])
store.requests.accept(request(99, at=5000.0))
print(store.origin, flush=True)
store.close()
"""


def test_a_write_in_another_process_reaches_this_processs_feed(two, pg_url, postgres_server):
    _, b = two
    heard = listening(b)
    done = subprocess.run([sys.executable, "-c", CHILD, pg_url, postgres_server.password],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    origin = done.stdout.split()[-1]
    assert origin != b.origin
    heard.heard("accepted", origin, "req-99")


def test_sqlites_feed_tells_nothing(tmp_path):
    store = SQLiteStorage(tmp_path / "agent.sqlite")
    try:
        feed = store.changes()
        assert isinstance(feed, NoChanges) and feed.origin
        heard = Heard()
        feed.listen(heard.change, heard.link)
        store.requests.accept(request(1, at=T))
        feed.close()
        assert heard.changes == [] and heard.links == []
    finally:
        store.close()
