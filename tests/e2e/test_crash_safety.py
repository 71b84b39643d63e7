"""Crash safety: a replay SIGKILLed mid-run, then `resume`, loses nothing and acts once.

The replay runs in its own process against the in-process mock LLM, slowed down
so that it is surely mid-run when killed. While it runs, an operator (this
process) claims an escalation; the claim and every escalation must outlive the
crash and the resume untouched.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agentcore import SystemClock
from agentcore.demo_shop.corpusgen import generate_corpus
from agentcore.escalations import EscalationQueue, EscalationState
from agentcore.storage import Store

REPO = Path(__file__).resolve().parents[2]
KILL_AFTER_REQUESTS = 300
WAIT_LIMIT_S = 120  # a bound against a stuck child, not a timing assertion


def _count(db: Path, sql: str) -> int:
    """A read from outside the child; 0 while its database does not exist yet."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def _escalations(db: Path) -> dict[int, tuple]:
    with sqlite3.connect(db) as conn:
        return {row[0]: row for row in conn.execute("SELECT * FROM escalations")}


async def _never(*args):
    raise AssertionError("not expected to be called")


def _queue_call(engine_db: Path, call: Callable[[EscalationQueue], Awaitable[Any]]) -> Any:
    """One operator action from this process, on its own connection."""
    store = Store(engine_db)
    try:
        return asyncio.run(call(EscalationQueue(store, SystemClock(), rerun=_never,
                                                act=_never)))
    finally:
        store.close()


async def _claim_oldest(queue: EscalationQueue) -> int:
    oldest = (await queue.list())[0].id
    await queue.claim(oldest, "olivia", lease_s=3600)
    return oldest


def _acted_unfinished(engine_db: Path, shop_db: Path) -> set[str]:
    """Requests whose write tool has acted but whose outcome is not on disk yet."""
    with sqlite3.connect(f"file:{engine_db}?mode=ro", uri=True, timeout=5) as conn:
        conn.execute("ATTACH DATABASE ? AS shop", (f"file:{shop_db}?mode=ro",))
        return {r[0] for r in conn.execute(
            "SELECT DISTINCT r.id FROM shop.tool_actions t JOIN requests r "
            "ON r.id = t.request_id WHERE r.status = 'accepted'")}


def _kill_between_a_write_and_its_outcome(child: subprocess.Popen, engine_db: Path,
                                          shop_db: Path, deadline: float) -> set[str]:
    """SIGKILLs the child while some request has acted but not finished: the window
    where a careless retry would act twice. The child is frozen (SIGSTOP) to confirm
    the window is still open, so the kill lands in it for certain."""
    while True:
        assert child.poll() is None, "the replay ended before it could be killed"
        assert time.monotonic() < deadline, "no request was ever caught mid-write"
        if _acted_unfinished(engine_db, shop_db):
            child.send_signal(signal.SIGSTOP)
            caught = _acted_unfinished(engine_db, shop_db)
            if caught:
                child.send_signal(signal.SIGKILL)
                return caught
            child.send_signal(signal.SIGCONT)
        time.sleep(0.005)


def _actions(shop_db: Path, request_ids: set[str]) -> dict[str, tuple]:
    with sqlite3.connect(shop_db) as conn:
        return {row[0]: row for row in conn.execute(
            f"SELECT * FROM tool_actions WHERE request_id IN ({','.join('?' * len(request_ids))})",
            tuple(request_ids))}


def _integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.fixture
def data_dir(tmp_path, shop_template) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(shop_template, data / "shop.sqlite")
    return data


def test_a_killed_replay_resumes_with_nothing_lost_and_nothing_done_twice(tmp_path, data_dir):
    corpus = tmp_path / "corpus.jsonl"
    rows = generate_corpus(data_dir / "shop.sqlite", n=2000)
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    engine_db, shop_db = data_dir / "agent.sqlite", data_dir / "shop.sqlite"
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "xdg"))
    cli = [sys.executable, "-m", "agentcore", "--data-dir", str(data_dir)]

    log = (tmp_path / "replay.log").open("w+b")
    child = subprocess.Popen([*cli, "--mock-latency-ms", "100", "replay", str(corpus),
                              "--concurrency", "16", "--quiet"],
                             cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + WAIT_LIMIT_S
        while (_count(engine_db, "SELECT COUNT(*) FROM requests") < KILL_AFTER_REQUESTS
               or _count(engine_db, "SELECT COUNT(*) FROM escalations") == 0):
            assert child.poll() is None, (tmp_path / "replay.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the replay made no progress"
            time.sleep(0.05)
        claimed = _queue_call(engine_db, _claim_oldest)  # while the replay still writes
        in_window = _kill_between_a_write_and_its_outcome(child, engine_db, shop_db, deadline)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
        log.close()
    assert child.returncode == -signal.SIGKILL

    with sqlite3.connect(engine_db) as conn:
        interrupted = conn.execute(
            "SELECT COUNT(*) FROM requests WHERE status = 'accepted'").fetchone()[0]
        submitted = conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
    assert submitted < len(rows), "the kill should have come mid-run"
    acted_before = _actions(shop_db, in_window)
    before = _escalations(engine_db)

    resumed = subprocess.run([*cli, "resume"], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed {interrupted} interrupted requests" in resumed.stdout

    with sqlite3.connect(engine_db) as conn:
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM requests GROUP BY status"))
        outcomes = conn.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0]
        orphans = conn.execute("SELECT COUNT(*) FROM requests r LEFT JOIN outcomes o "
                               "ON o.request_id = r.id WHERE o.request_id IS NULL").fetchone()
        escalated_without_item = conn.execute(
            "SELECT COUNT(*) FROM requests r LEFT JOIN escalations e ON e.request_id = r.id "
            "WHERE r.status = 'escalated' AND e.id IS NULL").fetchone()
        request_ids = {r[0] for r in conn.execute("SELECT id FROM requests")}
    # Every request is settled: answered, escalated (in the queue) or rejected.
    assert set(statuses) <= {"answered", "escalated", "rejected"}, statuses
    assert sum(statuses.values()) == submitted == outcomes
    assert orphans == (0,) and escalated_without_item == (0,)

    # Escalations are intact: none lost or changed; the resume only added new ones.
    after = _escalations(engine_db)
    assert {k: after[k] for k in before} == before
    assert len(after) == statuses.get("escalated", 0)
    item = _queue_call(engine_db, lambda queue: queue.get(claimed))
    assert (item.state, item.claimed_by) == (EscalationState.CLAIMED, "olivia")

    # No write tool acted twice: at most one refund per request and order, and every
    # refund the agent issued has exactly one idempotency record.
    with sqlite3.connect(shop_db) as conn:
        doubled = conn.execute(
            "SELECT request_id, order_id, COUNT(*) FROM refunds WHERE request_id IS NOT NULL "
            "GROUP BY request_id, order_id HAVING COUNT(*) > 1").fetchall()
        agent_refunds = conn.execute(
            "SELECT COUNT(*) FROM refunds WHERE request_id IS NOT NULL").fetchone()[0]
        refund_actions = conn.execute(
            "SELECT COUNT(*) FROM tool_actions WHERE tool = 'issue_refund'").fetchone()[0]
        acted_for = {r[0] for r in conn.execute("SELECT DISTINCT request_id FROM tool_actions")}
    assert doubled == []
    assert agent_refunds == refund_actions
    # What the killed requests had done stands as it was: the re-run replayed it.
    assert {k: v for k, v in _actions(shop_db, in_window).items() if k in acted_before} == (
        acted_before)
    assert acted_for <= request_ids, "a write was done for a request the engine never had"

    assert _integrity(engine_db) == "ok"
    assert _integrity(shop_db) == "ok"
