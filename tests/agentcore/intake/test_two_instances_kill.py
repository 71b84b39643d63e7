"""Two `agentcore serve --database URL` instances on one PostgreSQL database, the load
spread over both intakes, one killed with SIGKILL mid-load: the survivor runs none of
the other's requests while it lives, then finishes what it left in flight without a
restart; every accepted request ends with one outcome, none is answered twice."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess

import httpx2
import psycopg

from tests.e2e.test_money_across_processes import refundable_orders
from tests.processes import serve_process

N = 40
SLOW = "my app keeps crashing and nothing helps"  # the LLM's path: it takes a while
PACE_S = 0.25  # the load lasts longer than the survivor's sweep (SWEEP_S, 5 s)
KILL_AT = 28  # posts made when the first instance is killed
REFUNDS = (3, 12, 21, 26, 33)  # these posts ask for a refund: a write, once per request


def _rows(url: str, password: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple]:
    with psycopg.connect(url, password=password, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def _instance(url: str, password: str, proc: subprocess.Popen[str]) -> str:
    [(iid,)] = _rows(url, password, "SELECT id FROM instances WHERE pid = %s", (proc.pid,))
    return str(iid)


async def test_kill_9_of_one_of_two_instances_loses_and_repeats_nothing(
        pg_settings, pg_url, postgres_server, tmp_path):
    password = postgres_server.password
    path = tmp_path / "settings.json"
    pg_settings.save(path)
    keyring = tmp_path / "keyring.json"
    start = ("--database", pg_url)
    # One after the other: the first seeds the rules, the second finds them.
    doomed, doomed_url = await serve_process(path, keyring, *start, latency_ms=1500)
    survivor, survivor_url = await serve_process(path, keyring, *start, latency_ms=1500)
    doomed_id = _instance(pg_url, password, doomed)
    survivor_id = _instance(pg_url, password, survivor)
    accepted: dict[str, str] = {}  # external id -> request id, as a client was told
    orders = [(oid, cid) for oid, cid, _ in refundable_orders(pg_settings, len(REFUNDS))]
    refunding = dict(zip(REFUNDS, orders, strict=True))
    try:
        async with httpx2.AsyncClient(timeout=10) as http:
            async def post(i: int, base: str) -> None:
                body = {"text": f"{SLOW} (ticket {i})", "customer_id": 1 + i % 30,
                        "external_id": f"msg-{i}"}
                if i in refunding:  # the LLM's path too: slow, so maybe in flight
                    oid, cid = refunding[i]
                    body.update(text=f"I want a refund for order {oid}, it arrived damaged",
                                customer_id=cid)
                try:
                    reply = await http.post(f"{base}/v1/requests", json=body)
                except httpx2.HTTPError:  # cut off by the kill: sent again to the survivor
                    reply = await http.post(f"{survivor_url}/v1/requests", json=body)
                assert reply.status_code in (200, 202), reply.text
                accepted[str(body["external_id"])] = reply.json()["id"]

            posting = []
            for i in range(N):
                alive = i < KILL_AT
                base = (doomed_url if i % 2 else survivor_url) if alive else survivor_url
                posting.append(asyncio.create_task(post(i, base)))
                await asyncio.sleep(PACE_S)
                if i + 1 == KILL_AT:
                    # While the doomed one lived (and the survivor swept at least once),
                    # none of its work was taken from it.
                    assert _rows(pg_url, password,
                                 "SELECT count(*) FROM requests r JOIN intake_requests i"
                                 " ON i.request_id = r.id WHERE i.owner = %s"
                                 " AND r.owner <> %s", (doomed_id, doomed_id)) == [(0,)]
                    doomed.send_signal(signal.SIGKILL)
                    doomed.communicate(timeout=10)
                    # What it left: accepted, not finished, or claimed, never accepted.
                    left = {rid for (rid,) in _rows(
                        pg_url, password,
                        "SELECT i.request_id FROM intake_requests i LEFT JOIN requests r"
                        " ON r.id = i.request_id WHERE i.owner = %s"
                        " AND (r.id IS NULL OR r.status = 'accepted')", (doomed_id,))}
            await asyncio.gather(*posting)
        assert left, "the kill landed when nothing was in flight: the test proves nothing"
        # The survivor finishes the dead one's work itself, restarted by nobody.
        for _ in range(600):
            open_ = _rows(pg_url, password,
                          "SELECT count(*) FROM intake_requests i LEFT JOIN requests r"
                          " ON r.id = i.request_id WHERE r.id IS NULL"
                          " OR r.status = 'accepted'")
            if open_ == [(0,)]:
                break
            await asyncio.sleep(0.1)
        assert open_ == [(0,)], "the survivor left the dead instance's requests unfinished"
        ids = set(accepted.values())
        assert len(ids) == N  # one request per message, redeliveries included
        finished = _rows(pg_url, password,
                         "SELECT r.id, r.status, r.owner, count(o.request_id) FROM requests r"
                         " LEFT JOIN outcomes o ON o.request_id = r.id GROUP BY r.id")
        assert {rid for rid, *_ in finished} == ids
        for rid, status, owner, outcomes in finished:
            assert status in ("answered", "escalated") and outcomes == 1, rid
            # Run by whoever took it, a second time only by the survivor and only when
            # the dead one had not finished it.
            assert owner in (doomed_id, survivor_id), rid
            claimed_by = _rows(pg_url, password, "SELECT owner FROM intake_requests"
                               " WHERE request_id = %s", (rid,))[0][0]
            if claimed_by == doomed_id and owner == survivor_id:
                assert rid in left, rid
        taken = {rid for rid, _, owner, _ in finished if owner == survivor_id} & left
        assert taken == left  # all of it, by the survivor
        # The shop's writes: at most one refund per request and per order, whoever ran it.
        with sqlite3.connect(pg_settings.shop_path) as shop:
            written = shop.execute("SELECT request_id, order_id FROM refunds"
                                   " WHERE request_id IS NOT NULL").fetchall()
        shop.close()
        assert written, "no refund was made: the write path went untested"
        assert len({r for r, _ in written}) == len(written)
        assert len({o for _, o in written}) == len(written)
        assert {r for r, _ in written} <= ids
    finally:
        for proc in (doomed, survivor):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
