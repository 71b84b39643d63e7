"""The service throughput bench's harness, small: `agentcore serve` on SQLite and on
PostgreSQL (its password from a keyring the bench points the child at) both answer
the closed loop's requests, so the ratio the bench prints compares two working
services, not one that failed to start."""

from __future__ import annotations

import asyncio

from bench.pg_service_bench import measure, summarise


def test_both_services_answer_the_closed_loop(pg_url, postgres_server):
    found = asyncio.run(measure(pg_url, postgres_server.password, seconds=1.0, rounds=1))

    lite, pg = found["sqlite"][0], found["postgresql"][0]
    assert lite.answered > 0 and lite.errors == 0
    assert pg.answered > 0
    assert "req/s" in summarise(found, 1.0)[0][1]
    # The requests went to PostgreSQL: its database holds them, finished.
    import psycopg

    with psycopg.connect(pg_url, password=postgres_server.password) as conn:
        row = conn.execute("SELECT COUNT(*) FROM requests WHERE status != 'accepted'").fetchone()
    assert row is not None and row[0] >= pg.answered
