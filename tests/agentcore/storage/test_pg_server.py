"""The tests' PostgreSQL server: real, started as the system user when we are root,
with a fresh database per test."""

from __future__ import annotations

import psycopg
import pytest


def test_each_test_gets_an_empty_database_of_its_own(pg_url, postgres_server):
    with psycopg.connect(pg_url, password=postgres_server.password) as conn:
        conn.execute("CREATE TABLE mine (x INTEGER)")
        tables = conn.execute("SELECT table_name FROM information_schema.tables"
                              " WHERE table_schema = 'public'").fetchall()
        assert tables == [("mine",)]
        assert conn.execute("SHOW server_version_num").fetchone()[0] >= "150000"


def test_the_next_test_sees_none_of_the_last_ones_tables(pg_url, postgres_server):
    with psycopg.connect(pg_url, password=postgres_server.password) as conn:
        assert conn.execute("SELECT count(*) FROM information_schema.tables"
                            " WHERE table_schema = 'public'").fetchone() == (0,)


def test_a_wrong_password_is_refused_over_tcp(pg_url):
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_url, password="wrong").close()
