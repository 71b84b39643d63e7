"""Connections to a team's PostgreSQL server: the URL read, a first connection that
says in one sentence why it failed, then a psycopg_pool pool.

The first connection is made by hand because a pool that cannot connect only times
out ("pool initialization incomplete"), the reason left in a log: an operator who
typed the wrong port or password is told which, naming the host, never the password.
The password never travels in the URL (settings files are shared and backed up):
it is given apart, from the keyring (`settings.database_password`).
"""

from __future__ import annotations

import logging
import select
import time
import weakref
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from agentcore.errors import DatabaseUnreachable, StorageError
from agentcore.redaction import redact, register_secret

log = logging.getLogger("agentcore.storage")

CONNECT_TIMEOUT_S = 5
DOWN_WAIT_S = 0.25  # a caller's wait for a connection while the server is known gone
FRESH_S = 0.05  # a connection given back this recently, its socket quiet, is handed out unchecked
EXAMPLE = "postgresql://agent@db.example.org:5432/agent"
KEYRING_HINT = "keyring set agent-console {entry}"


@dataclass(frozen=True)
class Target:
    """Where a URL points: what an operator recognises in a message."""

    url: str
    host: str
    port: int
    database: str
    user: str

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def parse_url(url: str) -> Target:
    """`url` read as a PostgreSQL URL, or DatabaseUnreachable saying what is wrong with it."""
    if not is_postgres_url(url):
        raise DatabaseUnreachable(f"{url!r} is not a PostgreSQL URL: write it as {EXAMPLE}")
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        # psycopg's message quotes the URL: a password in it must not be printed.
        why = str(exc).strip().splitlines()[0]
        raise DatabaseUnreachable(redact(f"cannot read the database URL ({why}): write it as "
                                         f"{EXAMPLE}")) from None
    if parts.get("password"):
        raise DatabaseUnreachable(
            "the database URL holds a password: take it out of the URL and store it in the "
            "keyring (" + KEYRING_HINT.format(entry="database-password") + ")")
    host = str(parts.get("host") or "localhost")
    try:
        port = int(parts.get("port") or 5432)
    except ValueError:
        raise DatabaseUnreachable(f"the database URL's port {parts.get('port')!r} is not a "
                                  f"number: write it as {EXAMPLE}") from None
    user = str(parts.get("user") or "")
    database = str(parts.get("dbname") or user)
    if not database:
        raise DatabaseUnreachable(f"the database URL names no database: write it as {EXAMPLE}")
    return Target(url, host, port, database, user)


def _why(target: Target, exc: psycopg.OperationalError, entry: str) -> str:
    """One sentence for a failed connection: what happened at which server, what to do."""
    text = str(exc)
    at = f"the PostgreSQL server at {target.where}"
    who = f"user {target.user!r}" if target.user else "the default user"
    if "password authentication failed" in text:
        return (f"{at} refused the password of {who}: store the right one with "
                f"`{KEYRING_HINT.format(entry=entry)}`")
    if "no password supplied" in text or "password is required" in text:
        return (f"{at} wants a password for {who} and none is stored: store it with "
                f"`{KEYRING_HINT.format(entry=entry)}`")
    if "does not exist" in text and "database" in text:
        return (f"{at} has no database {target.database!r}: create it (createdb -h "
                f"{target.host} -p {target.port} {target.database}) or fix the URL")
    if "does not exist" in text and "role" in text:
        return f"{at} has no user {target.user!r}: create it or fix the URL's user"
    if "no pg_hba.conf entry" in text:
        return (f"{at} does not let {who} in from this machine: allow it in the server's "
                "pg_hba.conf")
    if ("could not translate host name" in text or "Name or service not known" in text
            or "nodename nor servname" in text):
        return f"the database host {target.host!r} is not known: check the URL's host name"
    if ("Connection refused" in text or "timeout expired" in text
            or "could not connect" in text or "No route to host" in text):
        return (f"no PostgreSQL server answers at {target.where}: start it, or check the "
                "URL's host and port")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"cannot connect to {at}: {first}"


def _kwargs(password: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S,
                               "application_name": "agentcore"}
    if password:
        options["password"] = password
    return options


def connect(url: str, password: str | None, *, entry: str = "database-password",
            autocommit: bool = True, **options: Any) -> psycopg.Connection[Any]:
    """One connection (a migration's, a check's), or DatabaseUnreachable in one sentence;
    `options` add to or override libpq's connection parameters (application_name, ...)."""
    register_secret(password)  # whatever quotes it from now on is masked
    target = parse_url(url)
    try:
        return psycopg.connect(url, autocommit=autocommit, **{**_kwargs(password), **options})
    except psycopg.OperationalError as exc:
        raise DatabaseUnreachable(redact(_why(target, exc, entry))) from None


class FailFastPool(ConnectionPool[psycopg.Connection[Any]]):
    """A pool that, once a wait for a connection timed out (the server gone), makes the
    next callers wait DOWN_WAIT_S instead of the whole timeout, until one gets a
    connection again. Most callers are the event loop's: with the server down mid-shift,
    each accept waiting 5 s would freeze the intake and the console between refusals."""

    _down = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._back: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = (
            weakref.WeakKeyDictionary())  # when each connection was last given back

    def putconn(self, conn: psycopg.Connection[Any]) -> None:
        self._back[conn] = time.monotonic()
        super().putconn(conn)

    def _check_connection(self, conn: psycopg.Connection[Any]) -> None:
        """The check (an empty query: a round trip) before a caller gets a connection,
        skipped for one given back within FRESH_S whose socket has nothing to read. A
        server dropping a connection (a restart, pg_terminate_backend, an idle cut) says
        so on it (a FATAL message, then the socket's end), so a quiet socket is one the
        server held a moment ago; the few milliseconds' window is the full check's own
        (a drop just after it). Checking every hand-out was two fifths of the event
        loop's time at concurrency 50 (bench/pg_service_bench.py): a round trip each,
        the loop waiting."""
        back = self._back.get(conn)
        if back is not None and time.monotonic() - back < FRESH_S and not _heard(conn):
            return
        super()._check_connection(conn)

    def getconn(self, timeout: float | None = None) -> psycopg.Connection[Any]:
        if self._down:
            timeout = min(self.timeout if timeout is None else timeout, DOWN_WAIT_S)
        try:
            conn = super().getconn(timeout)
        except PoolTimeout:
            self._down = True
            raise
        self._down = False
        return conn


def _heard(conn: psycopg.Connection[Any]) -> bool:
    """Whether the server sent anything on an idle connection (or it cannot be told)."""
    try:
        return conn.closed or bool(select.select([conn.fileno()], [], [], 0)[0])
    except (OSError, ValueError, psycopg.Error):
        return True


def open_pool(url: str, password: str | None, *, entry: str = "database-password",
              min_size: int = 1, max_size: int = 8) -> ConnectionPool[psycopg.Connection[Any]]:
    """A pool of autocommit connections (transactions are explicit), opened once a first
    connection succeeds: a wrong URL, password or server fails here, said in words."""
    connect(url, password, entry=entry).close()
    pool = FailFastPool(
        url, kwargs={**_kwargs(password), "autocommit": True}, min_size=min_size,
        max_size=max_size, open=False, name="agentcore",
        # How long a caller waits for a connection (psycopg_pool's default: 30 s): with
        # the server gone, the queue says so in seconds instead of freezing a station.
        timeout=CONNECT_TIMEOUT_S,
        # A connection the server dropped (a restart, an idle cut) is replaced before a
        # caller gets it, instead of failing the caller's first statement.
        check=ConnectionPool.check_connection)
    try:
        pool.open(wait=True, timeout=CONNECT_TIMEOUT_S * 2)
    except PoolTimeout:  # the server went away between the two
        pool.close()
        raise DatabaseUnreachable(f"the PostgreSQL server at {parse_url(url).where} stopped "
                                  "answering while connecting: check that it is up") from None
    return pool


class pg_translated:  # lower case: it reads as a function, as `_connection.translated`
    """The one place psycopg's errors during work become StorageError: `what` says what
    failed. A server gone mid-shift is said so; the pool hands out a live connection
    again once it is back."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if isinstance(exc, PoolTimeout):
            raise StorageError(f"{self.what}: no connection to the database could be had "
                               "in time (is the server up?)") from exc
        if isinstance(exc, psycopg.Error):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StorageError(redact(f"{self.what}: {first}")) from exc
