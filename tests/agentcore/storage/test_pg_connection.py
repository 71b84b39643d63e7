"""Connecting to a team's PostgreSQL server: each way it goes wrong is one sentence
naming the host and what to do, never the password; the pool replaces a connection
the server dropped."""

from __future__ import annotations

import psycopg
import pytest

from agentcore.errors import DatabaseUnreachable
from agentcore.storage._pg_connection import connect, open_pool, parse_url
from tests.postgres_server import _free_port


def _one_sentence(exc: pytest.ExceptionInfo[DatabaseUnreachable]) -> str:
    text = str(exc.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_a_refused_password_names_the_host_the_user_and_the_keyring_entry(pg_url,
                                                                           postgres_server):
    with pytest.raises(DatabaseUnreachable) as exc:
        connect(pg_url, "not-the-password-1234")
    text = _one_sentence(exc)
    assert f"127.0.0.1:{postgres_server.port} refused the password of user 'postgres'" in text
    assert "keyring set agent-console database-password" in text
    assert "not-the-password-1234" not in text


def test_no_password_stored_where_one_is_wanted_says_to_store_one(pg_url):
    with pytest.raises(DatabaseUnreachable) as exc:
        connect(pg_url, None, entry="team-db")
    assert "wants a password for user 'postgres' and none is stored" in _one_sentence(exc)
    assert "keyring set agent-console team-db" in str(exc.value)


def test_no_server_at_the_port_says_start_it_or_check_host_and_port(postgres_server):
    port = _free_port()
    with pytest.raises(DatabaseUnreachable) as exc:
        connect(f"postgresql://postgres@127.0.0.1:{port}/agent", postgres_server.password)
    assert _one_sentence(exc) == (f"no PostgreSQL server answers at 127.0.0.1:{port}: start "
                                  "it, or check the URL's host and port")


def test_a_missing_database_says_how_to_create_it(postgres_server):
    url = postgres_server.url("nosuchdb")
    with pytest.raises(DatabaseUnreachable) as exc:
        connect(url, postgres_server.password)
    assert "has no database 'nosuchdb': create it (createdb -h 127.0.0.1" in _one_sentence(exc)


@pytest.mark.parametrize(("url", "says"), [
    ("mysql://agent@db/agent", "is not a PostgreSQL URL: write it as postgresql://"),
    ("postgresql://agent@db:port/agent", "the database URL's port 'port' is not a number"),
    ("postgresql://agent@db/agent?nosuch=1", "cannot read the database URL"),
    ("postgresql://agent:s3cret-pw@db/agent", "holds a password: take it out of the URL"),
])
def test_a_url_that_is_not_one_is_told_apart_before_connecting(url, says):
    with pytest.raises(DatabaseUnreachable) as exc:
        parse_url(url)
    assert says in _one_sentence(exc)
    assert "s3cret-pw" not in str(exc.value)


def test_the_pool_replaces_a_connection_the_server_dropped(pg_url, postgres_server):
    """A server restart or an idle cut kills a pooled connection: the next caller gets
    a live one instead of an error on its first statement."""
    pool = open_pool(pg_url, postgres_server.password, min_size=1, max_size=1)
    try:
        with pool.connection() as conn:
            first = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        with psycopg.connect(postgres_server.url(with_password=True), autocommit=True) as admin:
            # With a timeout it returns once the backend is gone: the drop is done.
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (first,))
        with pool.connection() as conn:
            again = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert again != first
    finally:
        pool.close()


def test_a_pool_that_cannot_connect_says_why_at_once(pg_url):
    with pytest.raises(DatabaseUnreachable, match="refused the password"):
        open_pool(pg_url, "wrong-password")
