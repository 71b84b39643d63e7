"""Several instances on one database (agentcore.storage._instances): what a live one
accepted or claimed is never offered to another to run again; what a killed, stopped
or silent one left is, and to exactly one of the survivors racing for it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from agentcore.storage import IntakeRecord
from tests.agentcore.storage.records import answered, request
from tests.processes import REPO


def crashed(open_backend, n: int) -> str:
    """An instance in another process that accepted req-0..req-n-1 and claimed claim-0,
    then was killed with SIGKILL; its instance id."""
    database = open_backend.database
    open_backend()  # migrated here first: the child only works
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "AGENTCORE_TEST_DB_PASSWORD": database.password or ""}
    child = subprocess.run([sys.executable, "-m", "tests.agentcore.storage.crashed_instance",
                            database.kind, database.location, str(n)], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == -9, child.stderr
    return child.stdout.strip()


def claim(store, rid: str) -> None:
    store.intake.claim(IntakeRecord(rid, f"key-{rid}", "api", None, None, None,
                                    text="where is my order 1?", customer_id=7,
                                    received_at=1.0), 1.0)


def test_what_a_live_instance_accepted_or_claimed_is_not_taken_over(open_backend):
    first, second = open_backend(), open_backend()
    first.requests.accept(request(1))
    claim(first, "claim-1")
    # Listed as unfinished (it is), offered to nobody else while its owner lives.
    assert [r.id for r in second.requests.unfinished()] == ["req-1"]
    assert second.requests.take_over() == []
    assert second.intake.take_over() == []
    # Its own instance may run it again (a hand-back, a restarted intake).
    assert [r.id for r in first.requests.take_over()] == ["req-1"]
    assert [r.request_id for r in first.intake.take_over()] == ["claim-1"]


def test_what_a_stopped_instance_left_is_taken_over_at_once_by_one(open_backend):
    database = open_backend.database
    stopping = database.open()
    stopping.requests.accept(request(1))
    stopping.requests.accept(request(2))
    stopping.requests.finish(answered(request(2)))
    stopping.close()  # cut short by a graceful stop: req-1 stays accepted
    survivor, late = open_backend(), open_backend()
    assert [r.id for r in survivor.requests.take_over()] == ["req-1"]
    assert late.requests.take_over() == []  # the survivor's now, and it lives


def test_a_killed_instance_on_this_machine_is_taken_over_without_waiting(open_backend):
    dead = crashed(open_backend, 3)
    survivor = open_backend()
    assert [r.id for r in survivor.requests.take_over()] == ["req-0", "req-1", "req-2"]
    assert [r.request_id for r in survivor.intake.take_over()] == ["claim-0"]
    owners = open_backend.database.rows("SELECT DISTINCT owner FROM requests")
    assert owners == [(survivor.instance.id,)] and dead != survivor.instance.id


def test_an_instance_elsewhere_is_dead_once_its_heartbeat_stops_for_the_grace(open_backend):
    """No pid to look at on another machine: only the heartbeat, as this instance saw it
    (its own clock), decides; a live one elsewhere keeps beating and keeps its work."""
    database = open_backend.database
    dead = crashed(open_backend, 1)
    live = open_backend(heartbeat_s=0.05, grace_s=1.0)
    live.requests.accept(request(9))
    database.rows("UPDATE instances SET machine = 'another machine' WHERE id IN (?, ?)",
                  (dead, live.instance.id))
    watcher = open_backend(heartbeat_s=0.05, grace_s=0.5)
    assert watcher.requests.take_over() == []  # silent, but not yet for the grace
    taken: list[str] = []
    for _ in range(200):
        taken += [r.id for r in watcher.requests.take_over()]
        if taken:
            break
        time.sleep(0.05)
    assert taken == ["req-0"]
    time.sleep(0.6)  # a whole grace more of watching the live one
    assert [r.id for r in watcher.requests.take_over()] == ["req-0"]  # its own, not req-9
    assert [r.request_id for r in watcher.intake.take_over()] == ["claim-0"]


def test_survivors_racing_for_a_dead_instances_requests_each_get_their_own(open_backend):
    crashed(open_backend, 200)
    survivors = [open_backend() for _ in range(4)]
    start = threading.Barrier(len(survivors))
    taken: dict[int, set[str]] = {}

    def take(n: int) -> None:
        start.wait()
        got: set[str] = set()
        for _ in range(5):  # what it took already comes back as its own: counted once
            got |= {r.id for r in survivors[n].requests.take_over()}
        taken[n] = got

    threads = [threading.Thread(target=take, args=(n,)) for n in range(len(survivors))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [rid for got in taken.values() for rid in got]
    assert sorted(every) == sorted(f"req-{i}" for i in range(200))  # each once: one winner
    owners = dict(open_backend.database.rows("SELECT id, owner FROM requests"))
    for n, got in taken.items():
        assert {owners[rid] for rid in got} <= {survivors[n].instance.id}
