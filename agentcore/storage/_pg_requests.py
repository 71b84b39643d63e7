"""Requests and their outcomes on PostgreSQL (SQLite's are `_requests`): a request is
accepted by one autocommit INSERT, committed before `accept` returns, so it is in the
team's database before any work on it starts; outcomes go through the same outcome
writer as SQLite's (`_writer`: batched, off the event loop, retried), committed here
by `PostgresSink` in one pipelined transaction per batch.

The statements are SQLite's with PostgreSQL's spelling: ON CONFLICT for INSERT OR
REPLACE, jsonb for json_insert, trunc() where SQLite's CAST truncates (PostgreSQL's
rounds), COLLATE "C" where text is ordered (SQLite compares bytes), so each read
gives the same rows in the same order as on SQLite.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from agentcore.errors import DuplicateRequest
from agentcore.models import Outcome, OutcomeSummary, Request, Span, Status, storable
from agentcore.storage._instances import Instance
from agentcore.storage._pg_connection import pg_translated
from agentcore.storage._pg_notify import CHANNEL, notify, payloads
from agentcore.storage._requests import (
    _SUMMARY_COLUMNS,
    EXPORT_COLUMNS,
    FinishSQL,
    LatencyBins,
    OutcomeHistory,
    finish_statements,
    storable_id,
    summary,
)
from agentcore.storage._writer import OutcomeWriter, Statement

Pool = ConnectionPool[psycopg.Connection[Any]]


def pg_text(value: object) -> object:
    """A value PostgreSQL's text can hold: NUL, which SQLite keeps and PostgreSQL refuses
    in any text (a request the guard rejects for it is still recorded), becomes U+FFFD."""
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def _params(params: Sequence[object]) -> tuple[object, ...]:
    return tuple(pg_text(p) for p in params)


_INSERT = ("INSERT INTO requests (id, text, customer_id, channel, received_at, status, note,"
           " owner) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)")
# A re-escalated item's earlier pending write joins its history (SQLite's _KEEP_PENDING).
_KEEP_PENDING = (
    "CASE WHEN escalations.pending_status IS NULL THEN escalations.pending_history"
    " ELSE (COALESCE(escalations.pending_history, '[]')::jsonb || jsonb_build_array("
    "jsonb_build_object('action', escalations.context::jsonb -> 'pending_action',"
    " 'status', escalations.pending_status,"
    " 'result', COALESCE(escalations.pending_result, 'null')::jsonb)))::text END")

# SQLite's fence (`_requests._STILL_ACCEPTED`); and first the request's row locked
# while still accepted, since writers here do not take turns: of two outcomes of one
# request committing at once, the second waits, then finds it finished and writes nothing.
_THIS_RUN = "id = %s AND status = 'accepted' AND note IS NOT DISTINCT FROM %s"
_STILL_ACCEPTED = f"EXISTS (SELECT 1 FROM requests WHERE {_THIS_RUN})"

PG_FINISH = FinishSQL(
    lock=f"SELECT 1 FROM requests WHERE {_THIS_RUN} FOR UPDATE",
    status=f"UPDATE requests SET status = %s WHERE {_THIS_RUN}",
    # SQLite's INSERT OR REPLACE: a re-run's outcome replaces the row, `operator` NULL.
    outcome=(
        "INSERT INTO outcomes (request_id, route, status, intent, rule_id, answer,"
        " prompt_tokens, completion_tokens, dollars, latency_ms, errors, escalation_reason,"
        " finished_at) SELECT %s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s WHERE " + _STILL_ACCEPTED +
        " ON CONFLICT (request_id) DO UPDATE SET route = excluded.route,"
        " status = excluded.status, intent = excluded.intent, rule_id = excluded.rule_id,"
        " answer = excluded.answer, prompt_tokens = excluded.prompt_tokens,"
        " completion_tokens = excluded.completion_tokens, dollars = excluded.dollars,"
        " latency_ms = excluded.latency_ms, errors = excluded.errors,"
        " escalation_reason = excluded.escalation_reason,"
        " finished_at = excluded.finished_at, operator = NULL"),
    delete_spans="DELETE FROM spans WHERE request_id = %s AND " + _STILL_ACCEPTED,
    spans=(
        'INSERT INTO spans (request_id, seq, name, parent, start, "end", attributes, error)'
        " SELECT %s,%s,%s,%s,%s,%s,%s,%s WHERE " + _STILL_ACCEPTED +
        " ON CONFLICT (request_id, seq) DO UPDATE SET"
        ' name = excluded.name, parent = excluded.parent, start = excluded.start,'
        ' "end" = excluded."end", attributes = excluded.attributes, error = excluded.error'),
    reopen=(
        "INSERT INTO escalations (request_id, reason, state, created_at, context,"
        " pending_status) SELECT %s, %s, 'open', %s, %s, %s WHERE " + _STILL_ACCEPTED +
        " ON CONFLICT (request_id) DO UPDATE SET reason = excluded.reason,"
        " state = 'open', context = excluded.context, pending_history = " + _KEEP_PENDING +
        ", pending_status = excluded.pending_status, pending_result = NULL,"
        " claimed_by = NULL, lease_expires_at = NULL"
        " WHERE escalations.state = 'handed_back'"),
    settle_answered=(
        "UPDATE escalations SET state = 'resolved', resolved_at = %s,"
        " resolved_by = 'agent', resolution = 'answered by the agent'"
        " WHERE request_id = %s AND state = 'handed_back' AND " + _STILL_ACCEPTED),
    settle_other=(
        "UPDATE escalations SET state = 'open', claimed_by = NULL,"
        " lease_expires_at = NULL WHERE request_id = %s AND state = 'handed_back'"
        " AND " + _STILL_ACCEPTED),
)


def pg_finish_statements(outcome: Outcome) -> list[Statement]:
    return finish_statements(outcome, PG_FINISH)


def run_statements(cur: psycopg.Cursor[Any], statements: Sequence[Statement]) -> None:
    """What recording outcomes writes (`pg_finish_statements`), in the cursor's
    transaction."""
    for sql, params in statements:
        if isinstance(params, list):
            cur.executemany(sql, [_params(p) for p in params])
        else:
            cur.execute(sql, _params(params))


class PostgresSink:
    """The outcome writer's commits on PostgreSQL: a batch's statements sent in one
    pipeline (no round trip per statement), in one transaction, which also announces
    the batch ("finished") and the escalations it opened or settled ("escalation")."""

    def __init__(self, pool: Pool, origin: str) -> None:
        self._pool = pool
        self._origin = origin  # what this store's announcements carry

    def commit(self, batch: Sequence[Outcome]) -> None:
        statements = [s for outcome in batch for s in pg_finish_statements(outcome)]
        # An escalated outcome opens (or reopens) an item; a hand-back's re-run settles one.
        queued = [str(pg_text(o.request.id)) for o in batch
                  if o.status is Status.ESCALATED or o.request.note is not None]
        with self._pool.connection() as conn, conn.pipeline(), conn.transaction(), \
                conn.cursor() as cur:
            run_statements(cur, statements)
            notify(cur, "finished", [str(pg_text(o.request.id)) for o in batch], self._origin)
            if queued:
                cur.execute("SELECT id FROM escalations WHERE request_id = ANY(%s)"
                            " ORDER BY id", (queued,))
                notify(cur, "escalation", [str(i) for (i,) in cur.fetchall()], self._origin)

    def retryable(self, exc: Exception) -> bool:
        # The server gone or restarting, a deadlock, a pool with no connection: a later
        # try may succeed. A value or constraint it refuses never will.
        return isinstance(exc, psycopg.OperationalError | PoolTimeout)

    def close(self) -> None:
        return None  # the pool is the storage's, closed after the writer stops


_REQUEST = "SELECT id, text, customer_id, channel, received_at, note FROM requests"

# SQLite's casts truncate toward zero; PostgreSQL's round, hence trunc().
_BUCKET = "trunc(finished_at / %(bucket)s)::bigint * %(bucket)s"
_TALLIES = (f"SELECT {_BUCKET} AS b, route, status, COUNT(*), SUM(dollars) FROM outcomes"
            " WHERE finished_at >= %(since)s AND finished_at < %(until)s"
            " GROUP BY b, route, status")
_LATENCY = (f"SELECT {_BUCKET} AS b, CASE WHEN latency_ms < %(floor)s THEN 0"
            " ELSE LEAST(%(last)s, 1 + trunc(ln(latency_ms / %(floor)s) / %(log_ratio)s)::bigint)"
            " END AS k, COUNT(*) FROM outcomes"
            " WHERE finished_at >= %(since)s AND finished_at < %(until)s GROUP BY b, k")


class _Taken(Exception):
    """The id is some other request's (a re-run that is not one)."""


def _request(row: tuple[Any, ...]) -> Request:
    i, t, c, ch, r, n = row
    return Request(text=t, customer_id=c, channel=ch, id=i, received_at=r, note=n)


class PostgresRequests:
    """`RequestRepository` over a pool of connections to the team's database."""

    def __init__(self, pool: Pool, writer: OutcomeWriter, where: str, origin: str,
                 instance: Instance) -> None:
        self._pool = pool
        self._writer = writer
        self._where = where  # host:port, for messages
        self._origin = origin  # what this store's announcements carry
        self._instance = instance  # each request accepted here is its (`_instances`)

    def _read(self, what: str, sql: str, params: Sequence[object] | dict[str, Any] = (),
              ) -> list[tuple[Any, ...]]:
        self.flush()
        with pg_translated(f"reading the {what} at {self._where} failed"), \
                self._pool.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def _row(self, request: Request, status: str) -> tuple[Any, ...]:
        return _params((request.id, storable(request.text), storable_id(request.customer_id),
                        storable(request.channel), request.received_at, status, request.note,
                        self._instance.id))

    def accept(self, request: Request, *, again: bool = False) -> None:
        """Records a request before any work on it starts ('accepted'), committed (and
        announced, "accepted") before it returns. DuplicateRequest for an id already
        used, as on SQLite; `again` is a re-run of that same request, still accepted in
        the database."""
        row = self._row(request, "accepted")
        if again:  # its earlier outcome may still be on its way to the database
            self._writer.flush()
        announce = payloads("accepted", [str(row[0])], self._origin)
        with pg_translated(f"recording request {request.id} at {self._where} failed"):
            try:
                if not again and len(announce) == 1:
                    # The common case in one statement, so one round trip the event loop
                    # waits on instead of four (BEGIN, INSERT, NOTIFY, COMMIT): a single
                    # statement is its own transaction, the NOTIFY sent at its commit.
                    with self._pool.connection() as conn:
                        conn.execute(
                            f"WITH added AS ({_INSERT} RETURNING id)"
                            " SELECT pg_notify(%s, %s) FROM added",
                            (*row, CHANNEL, announce[0]))
                    return
                with self._pool.connection() as conn, conn.transaction():
                    if again:
                        if conn.execute(
                                "UPDATE requests SET note = %s, owner = %s WHERE id = %s"
                                " AND status = 'accepted' AND text = %s"
                                " AND customer_id IS NOT DISTINCT FROM %s",
                                (row[6], row[7], row[0], row[1], row[2])).rowcount == 1:
                            notify(conn, "accepted", [str(row[0])], self._origin)
                            return
                        if conn.execute("SELECT 1 FROM requests WHERE id = %s",
                                        (row[0],)).fetchone():
                            raise _Taken  # not a request waiting to be re-run
                    conn.execute(_INSERT, row)
                    notify(conn, "accepted", [str(row[0])], self._origin)
            except (psycopg.errors.UniqueViolation, _Taken):
                raise DuplicateRequest(f"request id {request.id!r} was already used; a "
                                       "request needs an id of its own") from None

    def reject(self, outcome: Outcome) -> None:
        """Records a request turned away before any work on it with its outcome, in one
        transaction, committed and announced ("accepted", then "finished") before it
        returns: as on SQLite, a crash leaves both or neither. DuplicateRequest when its
        id is taken, and nothing is recorded."""
        request = outcome.request
        rid = str(pg_text(request.id))
        with pg_translated(f"recording request {request.id} at {self._where} failed"):
            try:
                with self._pool.connection() as conn, conn.transaction(), \
                        conn.cursor() as cur:
                    cur.execute(_INSERT, self._row(request, "accepted"))  # then finished
                    run_statements(cur, pg_finish_statements(outcome))
                    notify(cur, "accepted", [rid], self._origin)
                    notify(cur, "finished", [rid], self._origin)
            except psycopg.errors.UniqueViolation:
                raise DuplicateRequest(f"request id {request.id!r} was already used; a "
                                       "request needs an id of its own") from None

    def finish(self, outcome: Outcome) -> None:
        """Hands the outcome, its spans and any escalation to the writer (one
        transaction); an outcome is treated as final once returned."""
        self._writer.submit(outcome)

    def flush(self) -> None:
        self._writer.flush()

    def unfinished(self) -> list[Request]:
        """Accepted requests with no outcome, whoever's: what a crash interrupted, and
        what a live instance is answering now (to run again: `take_over`)."""
        rows = self._read("requests", _REQUEST + " WHERE status = 'accepted'"
                          " ORDER BY received_at")
        return [_request(r) for r in rows]

    def take_over(self) -> list[Request]:
        """The unfinished requests no live instance is answering, made this store's,
        oldest first (see SQLiteRequests.take_over). One UPDATE: a second store taking
        the same row at once waits on its lock, then finds its owner live, and skips it."""
        self.flush()
        with pg_translated(f"taking over requests at {self._where} failed"), \
                self._pool.connection() as conn:
            takeable, params = self._instance.takeable()
            rows = conn.execute(
                ("UPDATE requests SET owner = ? WHERE status = 'accepted' AND " + takeable +
                 " RETURNING id, text, customer_id, channel, received_at, note"
                 ).replace("?", "%s"), (self._instance.id, *params)).fetchall()
        return [_request(r) for r in sorted(rows, key=lambda row: (row[4], row[0]))]

    def disown(self, request_id: str) -> bool:
        """This store's accepted request left for any instance's sweep (see
        SQLiteRequests.disown)."""
        with pg_translated(f"writing request {request_id} at {self._where} failed"), \
                self._pool.connection() as conn:
            return conn.execute(
                "UPDATE requests SET owner = NULL WHERE id = %s AND status = 'accepted'"
                " AND owner = %s", (request_id, self._instance.id)).rowcount == 1

    def status(self, request_id: str) -> str | None:
        rows = self._read("requests", "SELECT status FROM requests WHERE id = %s",
                          (request_id,))
        return str(rows[0][0]) if rows else None

    def request(self, request_id: str) -> Request | None:
        rows = self._read("requests", _REQUEST + " WHERE id = %s", (request_id,))
        return _request(rows[0]) if rows else None

    def export_rows(self, *, route: str | None = None, intent: str | None = None,
                    status: str | None = None, search: str | None = None,
                    since: float | None = None, until: float | None = None,
                    batch: int = 1000) -> Iterator[dict[str, Any]]:
        """Requests with their outcomes, newest first, as the feed's filters choose them
        (see SQLiteRequests.export_rows). Streamed through a server-side cursor: a
        million rows export without the client ever holding them all."""
        self.flush()
        where: list[str] = []
        params: list[object] = []
        for column, value in (("o.route", route), ("o.intent", intent),
                              ("r.status", status)):
            if value:
                where.append(f"{column} = %s")
                params.append(value)
        if since is not None:
            where.append("r.received_at >= %s")
            params.append(since)
        if until is not None:
            where.append("r.received_at < %s")
            params.append(until)
        if search:
            where.append("strpos(lower(r.text || ' ' || coalesce(o.answer, '') || ' ' ||"
                         " coalesce(r.customer_id::text, '') || ' ' || coalesce(o.intent, '')"
                         " || ' ' || r.id), %s) > 0")
            params.append(pg_text(search.strip().lower()))
        sql = (f"SELECT {', '.join(EXPORT_COLUMNS)} FROM requests r"
               " LEFT JOIN outcomes o ON o.request_id = r.id"
               + (" WHERE " + " AND ".join(where) if where else "")
               + ' ORDER BY r.received_at DESC, r.id COLLATE "C" DESC')
        names = [c.partition(".")[2].partition(" ")[0] for c in EXPORT_COLUMNS]
        with pg_translated(f"reading the requests to export at {self._where} failed"), \
                self._pool.connection() as conn, conn.transaction(), \
                conn.cursor(name="agentcore_export") as cur:
            cur.itersize = batch
            cur.execute(sql, params)
            while rows := cur.fetchmany(batch):
                for row in rows:
                    yield dict(zip(names, row, strict=True))

    def outcome(self, request_id: str) -> OutcomeSummary | None:
        rows = self._read("outcomes", f"SELECT {_SUMMARY_COLUMNS} FROM outcomes"
                          " WHERE request_id = %s", (request_id,))
        return summary(rows[0]) if rows else None

    def outcomes(self) -> list[OutcomeSummary]:
        """Every outcome, oldest first (tests and small tools)."""
        rows = self._read("outcomes", f"SELECT {_SUMMARY_COLUMNS} FROM outcomes"
                          ' ORDER BY finished_at, request_id COLLATE "C"')
        return [summary(r) for r in rows]

    def spans(self, request_id: str) -> list[Span]:
        rows = self._read("spans", 'SELECT name, start, "end", attributes, error, parent'
                          " FROM spans WHERE request_id = %s ORDER BY seq", (request_id,))
        return [Span(name=n, start=s, end=e, attributes=json.loads(a), error=err, parent=p)
                for n, s, e, a, err, p in rows]

    def counts(self) -> dict[str, int]:
        """Requests by status: 'answered' -> n, ..."""
        rows = self._read("requests", "SELECT status, COUNT(*) FROM requests GROUP BY status")
        return {str(s): int(n) for s, n in rows}

    def dollars_since(self, since: float) -> float:
        rows = self._read("outcomes", "SELECT COALESCE(SUM(dollars), 0) FROM outcomes"
                          " WHERE finished_at >= %s", (since,))
        return float(rows[0][0])

    def history(self, since: float, until: float, bucket_s: int,
                bins: LatencyBins) -> OutcomeHistory:
        """What finished in [since, until), per `bucket_s` seconds, aggregated by the
        server; the same buckets and latency bins as SQLite's. Safe from any thread."""
        params = {"bucket": bucket_s, "since": since, "until": until,
                  "floor": bins.floor_ms, "log_ratio": math.log(bins.ratio),
                  "last": bins.count - 1}
        tallies = self._read("outcomes", _TALLIES, params)
        latency = self._read("outcomes", _LATENCY, params)
        return OutcomeHistory(
            bucket_s=bucket_s,
            tallies=[(int(b), str(r), str(s), int(n), float(d)) for b, r, s, n, d in tallies],
            latency=[(int(b), int(k), int(n)) for b, k, n in latency])
