"""Changes announced over PostgreSQL's LISTEN/NOTIFY (the backend-neutral part is
`_changes`).

`notify` runs inside the writing transaction: PostgreSQL delivers a notification
when its transaction commits, and never one of a rolled-back transaction, so a
listener hears of exactly the writes that happened. The payload is text, at most
`MAX_PAYLOAD` bytes (the server refuses 8000): `kind|origin|id1,id2,...`, each id
with `%`, `,` and `|` percent-escaped; many ids go in several notifications.

`PostgresChanges` listens on a connection of its own (autocommit, application_name
`agentcore-changes`, so an operator can find it in pg_stat_activity), in a daemon
thread. Notifications are not queued for a listener that is away, so when its
connection drops it says so (`on_link(False, why)`), reconnects with backoff, and
once LISTEN is in place again says `on_link(True, None)`: the consumer rereads all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

import psycopg

from agentcore.errors import DatabaseUnreachable
from agentcore.redaction import redact
from agentcore.storage._changes import CHANGE_KINDS, Change, OnChange, OnLink
from agentcore.storage._pg_connection import connect, parse_url

log = logging.getLogger("agentcore.storage")

CHANNEL = "agentcore_changes"
APPLICATION_NAME = "agentcore-changes"
MAX_PAYLOAD = 7900  # bytes: PostgreSQL refuses a payload of 8000 or more
FIRST_RETRY_S = 0.2  # after a lost link, doubling up to MAX_RETRY_S
MAX_RETRY_S = 5.0
POLL_S = 0.2  # how long one wait for notifications lasts: how soon close() is seen
# A cable pulled sends nothing: keepalives notice the silence within ~25 s.
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
               "keepalives_count": 3}

Executor = psycopg.Connection[Any] | psycopg.Cursor[Any]  # where a transaction runs


def _escape(value: str) -> str:
    return (value.replace("%", "%25").replace(",", "%2C").replace("|", "%7C")
            .replace("\x00", "%00"))


def payloads(kind: str, ids: Iterable[str], origin: str) -> list[str]:
    """The notifications announcing `ids` of `kind`, each under MAX_PAYLOAD bytes. An id
    too long for any payload is announced as an empty list ("reread this kind")."""
    if kind not in CHANGE_KINDS:
        raise ValueError(f"unknown change kind {kind!r}: one of {', '.join(CHANGE_KINDS)}")
    if "|" in origin or not origin:
        raise ValueError(f"a change's origin is a word without '|', not {origin!r}")
    head = f"{kind}|{origin}|"
    room = MAX_PAYLOAD - len(head.encode())
    out: list[str] = []
    chunk: list[str] = []
    size = 0
    for value in ids:
        escaped = _escape(value)
        length = len(escaped.encode())
        if length > room:
            out.append(head)  # which one cannot be said: the kind is to be reread
            continue
        if chunk and size + 1 + length > room:
            out.append(head + ",".join(chunk))
            chunk, size = [], 0
        size += length + (1 if chunk else 0)
        chunk.append(escaped)
    if chunk or not out:
        out.append(head + ",".join(chunk))
    return out


def parse(payload: str) -> Change | None:
    """The change a payload announces, or None if it is not one of ours."""
    kind, _, rest = payload.partition("|")
    origin, sep, ids = rest.partition("|")
    if not sep or kind not in CHANGE_KINDS or not origin:
        return None
    return Change(kind, tuple(unquote(i) for i in ids.split(",")) if ids else (), origin)


def notify(target: Executor, kind: str, ids: Iterable[str], origin: str) -> None:
    """Announces `ids` of `kind` when the transaction `target` (a connection or a
    cursor) is in commits; nothing if it rolls back."""
    for payload in payloads(kind, ids, origin):
        target.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))


class PostgresChanges:
    """A `ChangeFeed` over LISTEN on a connection of its own, made on `listen`.
    Callbacks run on the feed's thread ("agentcore-changes")."""

    def __init__(self, url: str, password: str | None, *, entry: str = "database-password",
                 origin: str) -> None:
        self.origin = origin
        self._url = url
        self._password = password
        self._entry = entry
        self._where = parse_url(url).where
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def listen(self, on_change: OnChange, on_link: OnLink) -> None:
        """Starts listening. Returns once LISTEN is in place, so whatever commits after
        is told; or, if the server cannot be reached now, at once, `on_link(False,
        why)` following from the thread and `on_link(True, None)` once it is back."""
        if self._thread is not None or self._stop.is_set():
            raise RuntimeError("a change feed listens once: take another from the store")
        conn: psycopg.Connection[Any] | None = None
        why = None
        try:
            conn = self._connect()
        except DatabaseUnreachable as exc:
            why = str(exc)
        self._thread = threading.Thread(target=self._run, args=(conn, why, on_change, on_link),
                                        name="agentcore-changes", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stops listening: returns within about POLL_S (or a connection attempt's
        timeout, when one is under way to a server that does not answer)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    # -- the thread ------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        conn = connect(self._url, self._password, entry=self._entry, autocommit=True,
                       application_name=APPLICATION_NAME, **_KEEPALIVES)
        try:
            conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            conn.close()
            raise DatabaseUnreachable(self._lost(exc)) from None
        return conn

    def _lost(self, exc: psycopg.Error) -> str:
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        first = first.removeprefix("consuming input failed: ")  # libpq's, not the reason
        return redact(f"lost the live link to the PostgreSQL server at {self._where} "
                      f"({first}): other stations' changes show once it is back")

    def _run(self, conn: psycopg.Connection[Any] | None, why: str | None,
             on_change: OnChange, on_link: OnLink) -> None:
        if conn is None:
            _call(on_link, False, why)
        delay = FIRST_RETRY_S
        while not self._stop.is_set():
            if conn is None:
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, MAX_RETRY_S)
                try:
                    conn = self._connect()
                except DatabaseUnreachable as exc:
                    log.info("change feed still away: %s", exc)
                    continue
                delay = FIRST_RETRY_S
                log.info("change feed listening again at %s", self._where)
                _call(on_link, True, None)
            try:
                self._drain(conn, on_change)
            except psycopg.Error as exc:
                why = self._lost(exc)
                log.warning("%s", why)
                _call(on_link, False, why)
            finally:
                conn.close()
                conn = None

    def _drain(self, conn: psycopg.Connection[Any], on_change: OnChange) -> None:
        """Hands each notification on until close(); psycopg.Error if the link drops."""
        while not self._stop.is_set():
            for note in conn.notifies(timeout=POLL_S):
                change = parse(note.payload)
                if change is None:
                    log.warning("change feed: skipped a notification it cannot read: %r",
                                note.payload[:200])
                else:
                    _call(on_change, change)
                if self._stop.is_set():
                    return


def _call(callback: Any, *args: Any) -> None:
    """A consumer's callback; one that raises is logged, and the feed goes on."""
    try:
        callback(*args)
    except Exception:  # the consumer's bug must not stop every later change
        log.exception("change feed: a consumer's callback failed")
