"""The network-link bench's harness, small: its proxy counts the round trips the
answer cache makes to PostgreSQL, the promise a team's services and stations across a
network rest on (one for a lookup L1 cannot answer, four for a put)."""

from __future__ import annotations

import psycopg

from bench.pg_round_trips_bench import SlowLink, measure


def test_the_link_counts_one_round_trip_per_statement_and_passes_every_byte(
        pg_url, postgres_server):
    port = int(pg_url.rsplit(":", 1)[1].split("/", 1)[0])
    link = SlowLink(port)
    try:
        url = pg_url.replace(f":{port}/", f":{link.port}/")
        with psycopg.connect(url, password=postgres_server.password, autocommit=True) as conn:
            before = link.round_trips
            assert conn.execute("SELECT repeat('x', 200000)").fetchone()[0] == "x" * 200_000
            conn.execute("SELECT 1").fetchone()
            assert link.round_trips - before == 2
    finally:
        link.close()


def test_the_answer_cache_makes_one_round_trip_for_an_l1_miss_and_four_for_a_put(
        pg_url, postgres_server):
    miss, held, put = measure(pg_url, postgres_server.password, n=12)
    assert ", 1 round trip (" in miss[1]
    assert ", 1 round trip (" in held[1]
    assert ", 4 round trips (" in put[1]
