"""The escalation queue's state machine on PostgreSQL (SQLite's is `_escalations`; the
rules are agentcore.escalations', the same for both).

Each change is one conditional `UPDATE ... WHERE <the state it may change from>` in
its own transaction. Under READ COMMITTED, of two stations updating one row at once
the second waits for the first to commit, then checks its WHERE again against the row
as the first left it (PostgreSQL re-reads an updated row before updating it): so of
any number of operators claiming one item on any number of machines, exactly one
wins, and each is told whether it did. A claim alone reads its row first, locked
(`FOR UPDATE`) till it commits, to tell the audit log a claim taken from a renewal.

Leases and approval windows are compared with the caller's `now`, which on a team's
database is the server's time (the engine's `ServerClock`), not each machine's own.

Each action that happens appends its audit entry (`_pg_audit.record`) in its own
transaction, as SQLite's queue does, with the same words: one refused writes none.
Each change that happens is also announced ("escalation", with the item's id) in that
transaction, for the other stations' queues (`_pg_notify`); one refused announces none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from agentcore.escalation_model import Escalation, EscalationState, PendingStatus
from agentcore.models import EscalationReason, storable
from agentcore.storage._escalations import (
    NO_DRAFTS,
    STORED_AS,
    approval_detail,
    escalation_from_row,
    record_json,
    write_entry,
)
from agentcore.storage._pg_audit import record as audit
from agentcore.storage._pg_connection import pg_translated
from agentcore.storage._pg_notify import notify

Pool = ConnectionPool[psycopg.Connection[Any]]

_EFFECTIVE_STATE = ("CASE WHEN e.state = 'claimed' AND e.lease_expires_at <= %(now)s"
                    " THEN 'open' ELSE e.state END")
_SELECT = f"""
SELECT e.id, e.request_id, e.reason, {_EFFECTIVE_STATE} AS state, e.created_at,
       e.claimed_by, e.lease_expires_at, e.resolved_at, e.resolved_by, e.resolution,
       e.note, e.context, e.pending_status, e.pending_result, e.reply_draft, e.note_draft,
       e.draft_by, e.approving_until, e.pending_history,
       r.text, r.customer_id, r.channel, r.received_at, r.note AS request_note
FROM escalations e JOIN requests r ON r.id = e.request_id
"""


class PostgresEscalations:
    """`EscalationRepository` over a pool of connections to the team's database."""

    def __init__(self, pool: Pool, where: str, flush: Callable[[], None] = lambda: None,
                 *, origin: str, owner: str | None = None) -> None:
        self._pool = pool
        self._owner = owner  # the instance a hand-back's re-run runs in (`_instances`)
        self._where = where  # host:port, for messages
        self._origin = origin  # what this store's announcements carry
        # This process's outcome writer: an escalation it just returned is in the
        # database before the queue is read or changed (as on SQLite).
        self._flush = flush

    # -- plumbing ------------------------------------------------------------

    def _rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        self._flush()
        with pg_translated(f"reading the escalation queue at {self._where} failed"), \
                self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        self._flush()
        with pg_translated(f"writing the escalation queue at {self._where} failed"), \
                self._pool.connection() as conn, conn.transaction():
            yield conn

    def _changed(self, conn: psycopg.Connection[Any], escalation_id: int, at: float,
                 operator: str, kind: str, detail: str = "") -> None:
        """The item changed: its audit entry, and the announcement to other stations."""
        audit(conn, at, operator, kind, f"escalation {escalation_id}", detail,
              origin=self._origin)
        notify(conn, "escalation", [str(escalation_id)], self._origin)

    @staticmethod
    def _hold(conn: psycopg.Connection[Any], escalation_id: int, operator: str, now: float,
              sets: str, params: tuple[Any, ...], *, undecided: bool = False) -> bool:
        """Updates the item only while `operator`'s claim is live and, with `undecided`,
        only while its pending write is still to be decided."""
        also = " AND pending_status IN ('waiting', 'failed')" if undecided else ""
        cur = conn.execute(
            f"UPDATE escalations SET {sets} WHERE id = %s AND state = 'claimed'"
            f" AND claimed_by = %s AND lease_expires_at > %s{also}",
            (*params, escalation_id, operator, now))
        return cur.rowcount == 1

    # -- reading -------------------------------------------------------------

    def get(self, escalation_id: int, now: float) -> Escalation | None:
        rows = self._rows(_SELECT + "WHERE e.id = %(id)s", {"id": escalation_id, "now": now})
        return escalation_from_row(rows[0]) if rows else None

    def of_request(self, request_id: str) -> int | None:
        rows = self._rows("SELECT id FROM escalations WHERE request_id = %(rid)s",
                          {"rid": request_id})
        return int(rows[0]["id"]) if rows else None

    def waiting_of(self, customer_id: int, reason: EscalationReason) -> int | None:
        rows = self._rows(
            "SELECT e.id FROM escalations e JOIN requests r ON r.id = e.request_id"
            " WHERE e.state IN ('open', 'claimed') AND e.reason = %(reason)s"
            " AND r.customer_id = %(cid)s ORDER BY e.id LIMIT 1",
            {"reason": str(reason), "cid": customer_id})
        return int(rows[0]["id"]) if rows else None

    def list(self, now: float, state: EscalationState | None = None,
             reason: EscalationReason | None = None, *, after_id: int | None = None,
             limit: int | None = None, latest_resolved_first: bool = False,
             approving: bool = False) -> list[Escalation]:
        where, params = self._filter(now, state, reason, after_id)
        if approving:
            where = (where + "AND " if where else "WHERE ") + "e.pending_status = 'approving' "
        # NULLS LAST: SQLite sorts NULL lowest, so DESC puts it last there too.
        order = ("e.resolved_at DESC NULLS LAST, e.id DESC" if latest_resolved_first
                 else "e.created_at, e.id")
        sql = _SELECT + where + f"ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT %(limit)s"
            params["limit"] = limit
        return [escalation_from_row(r) for r in self._rows(sql, params)]

    def count(self, now: float, state: EscalationState | None = None,
              reason: EscalationReason | None = None) -> int:
        where, params = self._filter(now, state, reason, None)
        return int(self._rows(f"SELECT COUNT(*) AS n FROM escalations e {where}",
                              params)[0]["n"])

    def resolved_among(self, ids: Iterable[int]) -> tuple[int, ...]:
        wanted = [int(i) for i in ids]
        if not wanted:
            return ()
        rows = self._rows("SELECT id FROM escalations WHERE id = ANY(%(ids)s)"
                          " AND state = 'resolved' ORDER BY id", {"ids": wanted})
        return tuple(int(r["id"]) for r in rows)

    def newest_id(self) -> int:
        return int(self._rows("SELECT COALESCE(MAX(id), 0) AS n FROM escalations", {})[0]["n"])

    def lapsed_claims(self, now: float) -> tuple[tuple[int, float], ...]:
        rows = self._rows("SELECT id, lease_expires_at FROM escalations WHERE state = 'claimed'"
                          " AND lease_expires_at <= %(now)s ORDER BY id", {"now": now})
        return tuple((int(r["id"]), float(r["lease_expires_at"])) for r in rows)

    @staticmethod
    def _filter(now: float, state: EscalationState | None, reason: EscalationReason | None,
                after_id: int | None) -> tuple[str, dict[str, Any]]:
        where = []
        if state is not None:
            stored = ", ".join(f"'{s}'" for s in STORED_AS[state])
            where.append(f"e.state IN ({stored}) AND {_EFFECTIVE_STATE} = %(state)s")
        if reason is not None:
            where.append("e.reason = %(reason)s")
        if after_id is not None:
            where.append("e.id > %(after_id)s")
        params = {"now": now, "state": str(state) if state is not None else None,
                  "after_id": after_id, "reason": str(reason) if reason is not None else None}
        return (f"WHERE {' AND '.join(where)} " if where else ""), params

    # -- claims --------------------------------------------------------------

    def claim(self, escalation_id: int, operator: str, now: float, until: float) -> bool:
        """An open item (or one's own claim, renewed, or a lapsed one) is `operator`'s.
        The audit log keeps a claim taken, not each renewal of one held."""
        with self._transaction() as conn:
            # Locked: the row the UPDATE then changes is the one read here, not one
            # another station's claim changed in between.
            before = conn.execute("SELECT state, claimed_by, lease_expires_at FROM escalations"
                                  " WHERE id = %s FOR UPDATE", (escalation_id,)).fetchone()
            won = conn.execute(
                "UPDATE escalations SET state = 'claimed', claimed_by = %s,"
                " lease_expires_at = %s WHERE id = %s AND (state = 'open' OR (state = 'claimed'"
                " AND (lease_expires_at <= %s OR claimed_by = %s)))",
                (operator, until, escalation_id, now, operator)).rowcount == 1
            if won and before is not None:
                state, holder, lease = before
                held = state == "claimed" and lease is not None
                if not (held and holder == operator and lease > now):
                    lapsed = held and holder != operator
                    audit(conn, now, operator, "claim", f"escalation {escalation_id}",
                          f"after {holder}'s claim lapsed" if lapsed else "",
                          origin=self._origin)
            if won:  # a renewal too: the lease's end shows in every queue
                notify(conn, "escalation", [str(escalation_id)], self._origin)
            return won

    def release(self, escalation_id: int, operator: str, now: float) -> bool:
        with self._transaction() as conn:
            released = conn.execute(
                "UPDATE escalations SET state = 'open', claimed_by = NULL,"
                " lease_expires_at = NULL WHERE id = %s AND state = 'claimed'"
                " AND claimed_by = %s", (escalation_id, operator)).rowcount == 1
            if released:
                self._changed(conn, escalation_id, now, operator, "release")
            return released

    def save_draft(self, escalation_id: int, operator: str, now: float, reply: str,
                   note: str) -> bool:
        with self._transaction() as conn:
            saved = conn.execute(
                "UPDATE escalations SET reply_draft = %s, note_draft = %s, draft_by = %s"
                " WHERE id = %s AND state = 'claimed' AND claimed_by = %s"
                " AND lease_expires_at > %s",
                (storable(reply) or None, storable(note) or None, operator, escalation_id,
                 operator, now)).rowcount == 1
            if saved:  # no audit entry for a draft, as on SQLite
                notify(conn, "escalation", [str(escalation_id)], self._origin)
            return saved

    # -- ending an item ------------------------------------------------------

    def reply(self, item: Escalation, operator: str, now: float, text: str,
              label: str | None) -> bool:
        request = item.request
        with self._transaction() as conn:
            if not self._hold(conn, item.id, operator, now,
                              "state = 'resolved', resolved_at = %s, resolved_by = %s,"
                              " resolution = 'replied'" + NO_DRAFTS, (now, operator)):
                return False
            conn.execute(
                "UPDATE outcomes SET route = 'human', status = 'answered', answer = %s,"
                " intent = COALESCE(%s, intent), latency_ms = %s, finished_at = %s,"
                " operator = %s WHERE request_id = %s",
                (text, label, (now - request.received_at) * 1000, now, operator, request.id))
            conn.execute("UPDATE requests SET status = 'answered' WHERE id = %s",
                         (request.id,))
            # SQLite's INSERT OR REPLACE: the pair is new (a new id), not an edit.
            conn.execute("DELETE FROM labelled_examples WHERE request_id = %s", (request.id,))
            conn.execute(
                "INSERT INTO labelled_examples (request_id, text, customer_id, intent, answer,"
                " source, operator, created_at) VALUES (%s, %s, %s, %s, %s, 'human', %s, %s)",
                (request.id, request.text, request.customer_id, label, text, operator, now))
            self._changed(conn, item.id, now, operator, "reply",
                          (f"[{label}] " if label else "") + text)
        return True

    def resolve(self, item: Escalation, operator: str, now: float) -> bool:
        request = item.request
        with self._transaction() as conn:
            if not self._hold(conn, item.id, operator, now,
                              "state = 'resolved', resolved_at = %s, resolved_by = %s,"
                              " resolution = 'resolved'" + NO_DRAFTS, (now, operator)):
                return False
            conn.execute(
                "UPDATE outcomes SET route = 'human', status = 'answered', answer = %s,"
                " latency_ms = %s, finished_at = %s, operator = %s WHERE request_id = %s",
                (f"(resolved by {operator} outside the console)",
                 (now - request.received_at) * 1000, now, operator, request.id))
            conn.execute("UPDATE requests SET status = 'answered' WHERE id = %s",
                         (request.id,))
            self._changed(conn, item.id, now, operator, "resolve",
                          "handled outside the console")
        return True

    def hand_back(self, item: Escalation, operator: str, now: float, note: str,
                  denial: dict[str, Any] | None) -> bool:
        sets = "state = 'handed_back', note = %s, lease_expires_at = NULL" + NO_DRAFTS
        params: tuple[Any, ...] = (note,)
        if denial is not None:
            sets += ", pending_status = 'denied', pending_result = %s"
            params += (record_json(denial),)
        with self._transaction() as conn:
            # Denying the write: only while it is still to be decided (another
            # station's approval of it may have started since it was read).
            if not self._hold(conn, item.id, operator, now, sets, params,
                              undecided=denial is not None):
                return False
            # This instance re-runs it: no other may take it over meanwhile.
            conn.execute("UPDATE requests SET note = %s, status = 'accepted', owner = %s"
                         " WHERE id = %s", (note, self._owner, item.request_id))
            self._changed(conn, item.id, now, operator, "hand_back",
                          note + (" (its write denied)" if denial is not None else ""))
        return True

    # -- the pending write ----------------------------------------------------

    def start_approval(self, escalation_id: int, operator: str, now: float,
                       record: dict[str, Any], until: float) -> bool:
        with self._transaction() as conn:
            started = self._hold(conn, escalation_id, operator, now,
                                 "pending_status = 'approving', pending_result = %s,"
                                 " approving_until = %s", (record_json(record), until),
                                 undecided=True)
            if started:
                self._changed(conn, escalation_id, now, operator, "approve",
                              approval_detail(record))
            return started

    def deny(self, escalation_id: int, operator: str, now: float,
             record: dict[str, Any]) -> bool:
        with self._transaction() as conn:
            denied = self._hold(conn, escalation_id, operator, now,
                                "pending_status = 'denied', pending_result = %s",
                                (record_json(record),), undecided=True)
            if denied:
                self._changed(conn, escalation_id, now, operator, "deny",
                              str(record.get("reason") or ""))
            return denied

    def end_approval(self, escalation_id: int, status: PendingStatus,
                     record: dict[str, Any]) -> None:
        was = (["approving", "failed", "denied"] if status is PendingStatus.APPROVED
               else ["approving"])
        with self._transaction() as conn:
            ended = conn.execute("UPDATE escalations SET pending_status = %s, pending_result = %s,"
                                 " approving_until = NULL WHERE id = %s"
                                 " AND pending_status = ANY(%s)",
                                 (str(status), record_json(record), escalation_id, was)).rowcount
            if ended:
                audit(conn, *write_entry(escalation_id, status, record), origin=self._origin)
                notify(conn, "escalation", [str(escalation_id)], self._origin)

