"""Faults under the escalation queue: a team database that goes away mid-shift is said
so (a StorageError in the operator's words, never psycopg's traceback), loses nothing it had
confirmed and works again once the server is back, on the same store; a station killed
with SIGKILL holding a claim keeps it only until its lease lapses (both backends)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from agentcore.errors import StorageError
from agentcore.escalation_model import EscalationState
from agentcore.storage._pg import PostgresStorage
from tests.agentcore.storage.queues import PostgresQueue
from tests.agentcore.storage.records import escalated, request
from tests.conftest import REPO

T = 5_000.0


def test_a_server_gone_mid_shift_is_said_and_the_store_works_again_when_it_is_back(own_server):
    url = own_server.url("agent")
    store = PostgresStorage(url, own_server.password)
    try:
        queue = PostgresQueue(url, own_server.password, store)
        item = queue.seed(escalated(request(1, at=T - 10)))
        assert store.escalations.claim(item, "ana", T, T + 600)
        own_server.stop()
        with pytest.raises(StorageError) as exc:
            store.escalations.get(item, T + 1)
        assert f"reading the escalation queue at 127.0.0.1:{own_server.port} failed" in str(
            exc.value)
        own_server.start()
        deadline = time.monotonic() + 60  # the pool reconnects with a backoff of its own
        while True:
            try:
                got = store.escalations.get(item, T + 2)
                break
            except StorageError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert (got.state, got.claimed_by) == (EscalationState.CLAIMED, "ana")  # kept
        assert not store.escalations.claim(item, "ben", T + 2, T + 602)
    finally:
        store.close()


_CLAIM_AND_DIE = """
import os, signal, sys
from tests.agentcore.storage.queues import open_queue
store = open_queue(sys.argv[1], sys.argv[2], sys.argv[3] or None)
assert store.escalations.claim(int(sys.argv[4]), "ana", 5000.0, 5060.0)
print("claimed", flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # a station that crashes holding the claim
"""


def test_a_claim_of_a_station_killed_with_sigkill_holds_until_its_lease_lapses(queue, request):
    kind = request.node.callspec.params["queue"]
    location = str(queue.path) if kind == "sqlite" else queue.url
    item = queue.seed(escalated(request_(1)))
    done = subprocess.run(
        [sys.executable, "-c", _CLAIM_AND_DIE, kind, location,
         getattr(queue, "password", ""), str(item)], capture_output=True, text=True,
        timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert done.returncode == -signal.SIGKILL and done.stdout == "claimed\n", done.stderr
    esc = queue.escalations
    assert esc.get(item, T + 1).claimed_by == "ana"  # committed before it died
    assert not esc.claim(item, "ben", T + 1, T + 61)
    assert esc.claim(item, "ben", T + 60, T + 120)  # the lease lapsed: anyone's


def request_(n: int):
    return request(n, at=T - 10)
