"""The request path on PostgreSQL where SQLite has nothing to compare with: the
charts' buckets against SQLite's over the same rows, and a process killed mid-load."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agentcore.models import Route, Status
from agentcore.storage import LatencyBins, SQLiteStorage
from tests.agentcore.storage.test_history import finished

REPO = Path(__file__).resolve().parents[3]
BINS = LatencyBins(floor_ms=0.001, ratio=1.03, count=700)


@pytest.fixture
def pg_store(pg_url, postgres_server):
    from agentcore.storage._pg import PostgresStorage

    store = PostgresStorage(pg_url, postgres_server.password)
    yield store
    store.close()


def test_the_charts_buckets_are_the_same_as_sqlites_over_the_same_rows(pg_store, tmp_path):
    rng = random.Random(17)
    t0 = 1_789_999_980.0
    routes = [(Route.RULE, Status.ANSWERED), (Route.LLM, Status.ANSWERED),
              (Route.LLM, Status.ESCALATED), (Route.GUARD, Status.REJECTED)]
    outcomes = []
    for i in range(3000):
        route, status = rng.choice(routes)
        # Latencies over nine decades, some on a bin's very edge, some past the last bin.
        latency = (BINS.floor_ms * BINS.ratio ** rng.randint(0, 800) if i % 7 == 0
                   else 10 ** rng.uniform(-4, 5))
        outcomes.append(finished(i, t0 + rng.uniform(-30, 3630), route, status,
                                 latency_ms=latency, dollars=rng.choice([0, 0.001, 0.02])))
    sqlite_store = SQLiteStorage(tmp_path / "agent.sqlite")
    try:
        for store in (sqlite_store, pg_store):
            for o in outcomes:
                store.requests.accept(o.request)
                store.requests.finish(o)
        for since, until, bucket in ((t0, t0 + 3600, 60), (t0 + 7, t0 + 1807, 10),
                                     (t0 - 30, t0 + 3630, 3600)):
            want = sqlite_store.requests.history(since, until, bucket, BINS)
            got = pg_store.requests.history(since, until, bucket, BINS)
            assert sorted(got.latency) == sorted(want.latency)
            assert [t[:4] for t in sorted(got.tallies)] == [t[:4] for t in sorted(want.tallies)]
            assert [t[4] for t in sorted(got.tallies)] == pytest.approx(
                [t[4] for t in sorted(want.tallies)])
            assert sum(n for *_, n in got.latency) > 0
    finally:
        sqlite_store.close()


def test_a_process_killed_mid_load_leaves_every_request_it_accepted(pg_url,
                                                                    postgres_server):
    """Every request the killed process said it accepted is in the database; every
    outcome it finished and flushed is there; what has no outcome is `unfinished`, for
    the next process to re-run."""
    from agentcore.storage._pg import PostgresStorage

    child = subprocess.Popen(
        [sys.executable, "-m", "tests.agentcore.storage.pg_acceptor", pg_url,
         postgres_server.password], cwd=REPO, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    accepted: list[str] = []
    flushed: list[str] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            word, *ids = line.split()
            (accepted if word == "accepted" else flushed).extend(ids)
            if len(accepted) >= 500:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert flushed, "the child never got to flush"

    store = PostgresStorage(pg_url, postgres_server.password)
    try:
        assert all(store.requests.status(rid) is not None for rid in accepted)
        assert all(store.requests.status(rid) == "answered" for rid in flushed)
        assert all(store.requests.outcome(rid) is not None for rid in flushed)
        unfinished = {r.id for r in store.requests.unfinished()}
        # Those never finished, and perhaps the last few finished but not yet written.
        never = {rid for i, rid in enumerate(accepted) if i % 3 == 0}
        assert never <= unfinished
        assert not unfinished & set(flushed)
        assert all(store.requests.outcome(rid) is None for rid in unfinished)
    finally:
        store.close()


def test_two_stations_pruning_at_once_delete_each_old_request_once(pg_url, postgres_server):
    """Every station of a team may run a pruner: of two at once, together they delete
    each old request once, and neither fails."""
    import threading

    from agentcore.storage._pg import PostgresStorage
    from tests.agentcore.storage.records import answered, request

    now = 10_000_000.0
    stations = [PostgresStorage(pg_url, postgres_server.password, retention_days=1,
                                now=lambda: now) for _ in range(2)]
    try:
        for n in range(3000):
            req = request(n, at=now - 2 * 86_400 + n)
            stations[0].requests.accept(req)
            stations[0].requests.finish(answered(req, spans=1))
        stations[0].flush()
        reports = []
        threads = [threading.Thread(target=lambda s=s: reports.append(s.prune()))
                   for s in stations]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(r.requests for r in reports) == 3000
        assert stations[1].requests.counts() == {}
    finally:
        for s in stations:
            s.close()
