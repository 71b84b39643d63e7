"""Requests and their outcomes: accepted on the caller's connection (synchronously:
on disk before any work starts), finished through the outcome writer."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agentcore.errors import DuplicateRequest
from agentcore.models import (
    EscalationReason,
    Outcome,
    OutcomeSummary,
    Request,
    Route,
    Span,
    Status,
    storable,
)
from agentcore.storage._connection import read_only, transaction, translated
from agentcore.storage._instances import Instance
from agentcore.storage._writer import OutcomeWriter, Statement, run_statements


def to_json(value: Any) -> str:
    """JSON SQLite can hold: a model's lone surrogate (valid as a JSON escape, not as
    UTF-8) becomes U+FFFD instead of failing the outcome's write."""
    return storable(json.dumps(value, default=str, ensure_ascii=False))


def storable_id(customer_id: object) -> int | None:
    """A customer id SQLite can hold; a rejected request's wild one is dropped."""
    if type(customer_id) is int and -(2**63) <= customer_id < 2**63:
        return customer_id
    return None


# A re-escalated item's earlier pending write, and how it was settled (approved with an
# override, say), joins its history instead of being overwritten by the new one.
_KEEP_PENDING = (
    "CASE WHEN escalations.pending_status IS NULL THEN escalations.pending_history"
    " ELSE json_insert(COALESCE(escalations.pending_history, '[]'), '$[#]', json_object("
    "'action', json(json_extract(escalations.context, '$.pending_action')),"
    " 'status', escalations.pending_status,"
    " 'result', json(COALESCE(escalations.pending_result, 'null')))) END")
_INSERT = ("INSERT INTO requests (id, text, customer_id, channel, received_at, status, note,"
           " owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
# Every statement of an outcome but the last writes only while its request is still
# 'accepted' for this run (`_STILL_ACCEPTED`: its id and its note, the hand-back's, the
# statement's last parameters), and the last moves the request on: an outcome that
# comes again (a commit retried after the link dropped as it went through, an instance
# taken over that finishes late) changes nothing, above all not an operator's reply
# written in between, nor a hand-back's re-run (accepted again, with the note).
_STILL_ACCEPTED = ("EXISTS (SELECT 1 FROM requests WHERE id = ? AND status = 'accepted'"
                   " AND note IS ?)")
_REOPEN = (
    "INSERT INTO escalations (request_id, reason, state, created_at, context,"
    " pending_status) SELECT ?, ?, 'open', ?, ?, ? WHERE " + _STILL_ACCEPTED +
    " ON CONFLICT (request_id) DO UPDATE SET reason = excluded.reason,"
    " state = 'open', context = excluded.context, pending_history = " + _KEEP_PENDING +
    ", pending_status = excluded.pending_status, pending_result = NULL,"
    " claimed_by = NULL, lease_expires_at = NULL"
    " WHERE escalations.state = 'handed_back'")
_OUTCOME = (
    # Named columns: `operator` is the queue's to set, and an engine outcome (a re-run
    # after a hand-back) replaces the row with it NULL again.
    "INSERT OR REPLACE INTO outcomes (request_id, route, status, intent, rule_id,"
    " answer, prompt_tokens, completion_tokens, dollars, latency_ms, errors,"
    " escalation_reason, finished_at) SELECT ?,?,?,?,?,?,?,?,?,?,?,?,? WHERE "
    + _STILL_ACCEPTED)


@dataclass(frozen=True, slots=True)
class FinishSQL:
    """A backend's statements for recording an outcome, each taking the parameters
    `finish_statements` gives it, in the same order, whatever the placeholder style."""

    status: str  # last: the request answered, escalated or rejected, if still accepted
    outcome: str
    delete_spans: str
    spans: str
    reopen: str
    settle_answered: str
    settle_other: str
    lock: str | None = None  # first: the request's row, where writers do not take turns


SQLITE_FINISH = FinishSQL(
    status="UPDATE requests SET status = ? WHERE id = ? AND status = 'accepted' AND note IS ?",
    outcome=_OUTCOME,
    delete_spans="DELETE FROM spans WHERE request_id = ? AND " + _STILL_ACCEPTED,
    spans="INSERT OR REPLACE INTO spans SELECT ?,?,?,?,?,?,?,? WHERE " + _STILL_ACCEPTED,
    reopen=_REOPEN,
    settle_answered=(
        "UPDATE escalations SET state = 'resolved', resolved_at = ?,"
        " resolved_by = 'agent', resolution = 'answered by the agent'"
        " WHERE request_id = ? AND state = 'handed_back' AND " + _STILL_ACCEPTED),
    settle_other=(
        "UPDATE escalations SET state = 'open', claimed_by = NULL,"
        " lease_expires_at = NULL WHERE request_id = ? AND state = 'handed_back'"
        " AND " + _STILL_ACCEPTED),
)


def finish_statements(outcome: Outcome, sql: FinishSQL = SQLITE_FINISH) -> list[Statement]:
    """What recording an outcome writes, in one transaction: the outcome row, its spans
    (one executemany), any escalation, and the request's status, last; nothing of it
    once the request is no longer accepted for this run (see `_STILL_ACCEPTED`)."""
    request = outcome.request
    rid, note = request.id, request.note
    u = outcome.usage
    finished_at = outcome.spans[-1].end if outcome.spans else request.received_at
    statements: list[Statement] = [] if sql.lock is None else [(sql.lock, (rid, note))]
    statements.append(
        (sql.outcome, (rid, str(outcome.route), str(outcome.status), outcome.intent,
                       outcome.rule_id, storable(outcome.answer), u.prompt_tokens,
                       u.completion_tokens, u.dollars, outcome.latency_ms,
                       to_json(outcome.errors),
                       str(outcome.escalation_reason) if outcome.escalation_reason else None,
                       finished_at, rid, note)))
    if request.note is not None:  # a hand-back's re-run: the earlier run's spans go
        statements.append((sql.delete_spans, (rid, rid, note)))
    if outcome.spans:
        statements.append((sql.spans, [
            (rid, i, s.name, s.parent, s.start, s.end, to_json(s.attributes), s.error, rid,
             note)
            for i, s in enumerate(outcome.spans)]))
    if outcome.status is Status.ESCALATED:
        context = {
            "draft_answer": outcome.draft_answer,
            "tool_results": outcome.tool_results.as_dict(),
            "pending_action": asdict(outcome.pending_action)
            if outcome.pending_action else None,
            "errors": outcome.errors,
            "intent": outcome.intent,
        }
        # A request handed back to the agent that escalates again reopens its item
        # (same id and created_at: it keeps its place in the queue) with the new
        # context; any other existing item is left alone.
        statements.append((sql.reopen, (rid, str(outcome.escalation_reason), finished_at,
                                        to_json(context),
                                        "waiting" if outcome.pending_action else None, rid,
                                        note)))
    elif request.note is not None:  # a hand-back's re-run, settled: one the agent
        # answered is resolved; one the guard turned away (rate limit) goes back to the
        # operators. Same transaction as the outcome.
        if outcome.status is Status.ANSWERED:
            statements.append((sql.settle_answered, (finished_at, rid, rid, note)))
        else:
            statements.append((sql.settle_other, (rid, rid, note)))
    statements.append((sql.status, (str(outcome.status), rid, note)))
    return statements


_SUMMARY_COLUMNS = ("request_id, route, status, answer, intent, rule_id, dollars, latency_ms,"
                    " finished_at, prompt_tokens, completion_tokens, errors,"
                    " escalation_reason, operator")

# What an export holds of a request and its outcome (None where it has no outcome yet).
EXPORT_COLUMNS = ("r.id", "r.received_at", "r.customer_id", "r.channel", "r.text",
                  "r.status", "o.route", "o.intent", "o.rule_id", "o.answer", "o.dollars",
                  "o.latency_ms", "o.prompt_tokens", "o.completion_tokens",
                  "o.escalation_reason", "o.operator", "o.finished_at")


def summary(row: sqlite3.Row | tuple[Any, ...]) -> OutcomeSummary:
    """An outcome row (`_SUMMARY_COLUMNS`, in order) as the typed summary."""
    (rid, route, status, answer, intent, rule_id, dollars, latency, finished, prompt,
     completion, errors, reason, operator) = row
    return OutcomeSummary(
        request_id=rid, route=Route(route), status=Status(status), answer=answer,
        intent=intent, rule_id=rule_id, dollars=float(dollars), latency_ms=float(latency),
        finished_at=float(finished), prompt_tokens=int(prompt),
        completion_tokens=int(completion), errors=tuple(json.loads(errors)),
        escalation_reason=EscalationReason(reason) if reason else None, operator=operator)


@dataclass(frozen=True, slots=True)
class LatencyBins:
    """A log-scale latency histogram: bin 0 is under `floor_ms`; bin k >= 1 holds
    [floor_ms * ratio**(k-1), floor_ms * ratio**k); the last bin takes the rest."""

    floor_ms: float
    ratio: float
    count: int


@dataclass(frozen=True, slots=True)
class OutcomeHistory:
    """Outcomes finished in [since, until), counted per `bucket_s`-second bucket
    (a bucket is named by its start, a whole multiple of `bucket_s`)."""

    bucket_s: int
    tallies: list[tuple[int, str, str, int, float]]  # (bucket, route, status, n, dollars)
    latency: list[tuple[int, int, int]]  # (bucket, latency bin, n)


# Aggregated in SQL: an hour at 200 requests/s is 720k rows, a few thousand groups.
_BUCKET = "CAST(finished_at / :bucket AS INTEGER) * :bucket"
_TALLIES = (f"SELECT {_BUCKET} AS b, route, status, COUNT(*), SUM(dollars) FROM outcomes"
            " WHERE finished_at >= :since AND finished_at < :until GROUP BY b, route, status")
_LATENCY = (f"SELECT {_BUCKET} AS b, CASE WHEN latency_ms < :floor THEN 0"
            " ELSE MIN(:last, 1 + CAST(ln(latency_ms / :floor) / :log_ratio AS INTEGER)) END"
            " AS k, COUNT(*) FROM outcomes"
            " WHERE finished_at >= :since AND finished_at < :until GROUP BY b, k")


def _with_ln(conn: sqlite3.Connection) -> sqlite3.Connection:
    """SQLite's math functions are a compile-time option: Python's `math.log` stands in
    where the library was built without them."""
    try:
        conn.execute("SELECT ln(1)")
    except sqlite3.OperationalError:
        conn.create_function("ln", 1, math.log, deterministic=True)
    return conn


class SQLiteRequests:
    """`RequestRepository` over the engine database."""

    def __init__(self, conn: sqlite3.Connection, writer: OutcomeWriter, path: Path,
                 instance: Instance) -> None:
        self._conn = conn
        self._writer = writer
        self._path = path
        self._instance = instance  # each request accepted here is its (`_instances`)

    def _row(self, request: Request, status: str) -> tuple[Any, ...]:
        return (request.id, storable(request.text), storable_id(request.customer_id),
                storable(request.channel), request.received_at, status, request.note,
                self._instance.id)

    def accept(self, request: Request, *, again: bool = False) -> None:
        """Records a request before any work on it starts ('accepted'), durably.

        An id is used once: DuplicateRequest when it is taken, so a reused id never
        overwrites a request, its outcome or an operator's reply. `again` is a re-run
        of that same request, already marked accepted on disk (what a crash left, or a
        hand-back): the same text for the same customer, or it is a duplicate too."""
        row = self._row(request, "accepted")
        conn = self._conn
        if again:  # its earlier outcome may still be on its way to the disk
            self._writer.flush()
        with translated(f"write to {self._path} failed"):
            try:
                with transaction(conn):
                    if again:
                        if conn.execute(
                                "UPDATE requests SET note = ?, owner = ? WHERE id = ?"
                                " AND status = 'accepted' AND text = ? AND customer_id IS ?",
                                (request.note, row[7], request.id, row[1], row[2])
                        ).rowcount == 1:
                            return
                        if conn.execute("SELECT 1 FROM requests WHERE id = ?",
                                        (request.id,)).fetchone():
                            raise sqlite3.IntegrityError("not a request waiting to be re-run")
                    conn.execute(_INSERT, row)
            except sqlite3.IntegrityError:
                raise DuplicateRequest(f"request id {request.id!r} was already used; a "
                                       "request needs an id of its own") from None

    def reject(self, outcome: Outcome) -> None:
        """Records a request turned away before any work on it (the guard's rejection)
        together with its outcome, in one transaction, before it returns: a crash leaves
        both or neither. (A rejected request without its outcome is settled for good:
        nothing would ever write it.) DuplicateRequest when its id is taken, and nothing
        is recorded."""
        request = outcome.request
        with translated(f"write to {self._path} failed"):
            try:
                with transaction(self._conn):  # accepted, then finished at once
                    self._conn.execute(_INSERT, self._row(request, "accepted"))
                    run_statements(self._conn, finish_statements(outcome))
            except sqlite3.IntegrityError:
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
        self.flush()
        with translated("reading the requests failed"):
            rows = self._conn.execute(
                "SELECT id, text, customer_id, channel, received_at, note FROM requests "
                "WHERE status = 'accepted' ORDER BY received_at").fetchall()
        return [Request(text=t, customer_id=c, channel=ch, id=i, received_at=r, note=n)
                for i, t, c, ch, r, n in rows]

    def take_over(self) -> list[Request]:
        """The unfinished requests no live instance is answering (a dead or stopped one's,
        this store's own, or of no known owner: `_instances`), made this store's,
        oldest first. Of two stores taking one over at once exactly one gets it."""
        self.flush()
        with translated(f"write to {self._path} failed"), transaction(self._conn):
            takeable, params = self._instance.takeable()
            rows = self._conn.execute(
                "UPDATE requests SET owner = ? WHERE status = 'accepted' AND " + takeable +
                " RETURNING id, text, customer_id, channel, received_at, note",
                (self._instance.id, *params)).fetchall()
        return [Request(text=t, customer_id=c, channel=ch, id=i, received_at=r, note=n)
                for i, t, c, ch, r, n in sorted(rows, key=lambda row: (row[4], row[0]))]

    def disown(self, request_id: str) -> bool:
        """This store's accepted request left for any instance's sweep to take (owner
        none): what a station that answers nothing itself does when the service it
        handed a re-run to could not be reached. False: not this store's (a service
        took it, or it is finished)."""
        with translated(f"write to {self._path} failed"), transaction(self._conn):
            return self._conn.execute(
                "UPDATE requests SET owner = NULL WHERE id = ? AND status = 'accepted'"
                " AND owner = ?", (request_id, self._instance.id)).rowcount == 1

    def status(self, request_id: str) -> str | None:
        """'accepted', 'answered', 'escalated' or 'rejected'; None: no such request."""
        self.flush()
        with translated("reading the requests failed"):
            row = self._conn.execute("SELECT status FROM requests WHERE id = ?",
                                     (request_id,)).fetchone()
        return None if row is None else str(row[0])

    def request(self, request_id: str) -> Request | None:
        self.flush()
        with translated("reading the requests failed"):
            row = self._conn.execute(
                "SELECT id, text, customer_id, channel, received_at, note FROM requests"
                " WHERE id = ?", (request_id,)).fetchone()
        if row is None:
            return None
        i, t, c, ch, r, n = row
        return Request(text=t, customer_id=c, channel=ch, id=i, received_at=r, note=n)

    def export_rows(self, *, route: str | None = None, intent: str | None = None,
                    status: str | None = None, search: str | None = None,
                    since: float | None = None, until: float | None = None,
                    batch: int = 1000) -> Iterator[dict[str, Any]]:
        """Requests with their outcomes, newest first, as the feed's filters choose them
        (`search`: case-insensitive, in the text, the answer, the customer, the intent or
        the id). Read in batches over a read-only connection of the caller's own, so a
        million rows export from a worker thread without holding them all."""
        self.flush()
        where: list[str] = []
        params: list[object] = []
        for column, value in (("o.route", route), ("o.intent", intent),
                              ("r.status", status)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("r.received_at >= ?")
            params.append(since)
        if until is not None:
            where.append("r.received_at < ?")
            params.append(until)
        if search:
            where.append("instr(lower(r.text || ' ' || coalesce(o.answer, '') || ' ' ||"
                         " coalesce(r.customer_id, '') || ' ' || coalesce(o.intent, '') ||"
                         " ' ' || r.id), ?) > 0")
            params.append(search.strip().lower())
        sql = (f"SELECT {', '.join(EXPORT_COLUMNS)} FROM requests r"
               " LEFT JOIN outcomes o ON o.request_id = r.id"
               + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY r.received_at DESC, r.id DESC")
        conn = read_only(self._path)
        try:
            with translated("reading the requests to export failed"):
                cursor = conn.execute(sql, params)
                names = [c.partition(".")[2].partition(" ")[0] for c in EXPORT_COLUMNS]
                while rows := cursor.fetchmany(batch):
                    for row in rows:
                        yield dict(zip(names, row, strict=True))
        finally:
            conn.close()

    def outcome(self, request_id: str) -> OutcomeSummary | None:
        self.flush()
        with translated("reading the outcomes failed"):
            row = self._conn.execute(f"SELECT {_SUMMARY_COLUMNS} FROM outcomes"
                                     " WHERE request_id = ?", (request_id,)).fetchone()
        return None if row is None else summary(row)

    def outcomes(self) -> list[OutcomeSummary]:
        """Every outcome, oldest first (tests and small tools; the console reads
        aggregates)."""
        self.flush()
        with translated("reading the outcomes failed"):
            rows = self._conn.execute(f"SELECT {_SUMMARY_COLUMNS} FROM outcomes"
                                      " ORDER BY finished_at, request_id").fetchall()
        return [summary(r) for r in rows]

    def spans(self, request_id: str) -> list[Span]:
        self.flush()
        with translated("reading the spans failed"):
            rows = self._conn.execute(
                "SELECT name, start, end, attributes, error, parent FROM spans"
                " WHERE request_id = ? ORDER BY seq", (request_id,)).fetchall()
        return [Span(name=n, start=s, end=e, attributes=json.loads(a), error=err, parent=p)
                for n, s, e, a, err, p in rows]

    def counts(self) -> dict[str, int]:
        """Requests by status: 'answered' -> n, ..."""
        self.flush()
        with translated("reading the requests failed"):
            return {str(s): int(n) for s, n in self._conn.execute(
                "SELECT status, COUNT(*) FROM requests GROUP BY status")}

    def dollars_since(self, since: float) -> float:
        """What outcomes finished since `since` cost (the status bar's 'today')."""
        self.flush()
        with translated("reading the outcomes failed"):
            row = self._conn.execute("SELECT COALESCE(SUM(dollars), 0) FROM outcomes"
                                     " WHERE finished_at >= ?", (since,)).fetchone()
        return float(row[0])

    def history(self, since: float, until: float, bucket_s: int,
                bins: LatencyBins) -> OutcomeHistory:
        """What finished in [since, until), per `bucket_s` seconds, for the charts'
        back-fill after a restart. Safe to call from a worker thread (it reads on a
        connection of its own): the console calls it off the GUI thread."""
        self.flush()
        params = {"bucket": bucket_s, "since": since, "until": until,
                  "floor": bins.floor_ms, "log_ratio": math.log(bins.ratio),
                  "last": bins.count - 1}
        with translated("reading the outcomes failed"):
            conn = _with_ln(read_only(self._path))
            try:
                tallies = conn.execute(_TALLIES, params).fetchall()
                latency = conn.execute(_LATENCY, params).fetchall()
            finally:
                conn.close()
        return OutcomeHistory(
            bucket_s=bucket_s,
            tallies=[(int(b), str(r), str(s), int(n), float(d)) for b, r, s, n, d in tallies],
            latency=[(int(b), int(k), int(n)) for b, k, n in latency])
