"""Every statement of the escalation queue's state machine (agentcore.escalations
holds its rules; this holds its SQL).

Each change is one conditional UPDATE in an IMMEDIATE transaction, so of two
operators (tasks, threads or processes) acting at once exactly one wins: the
methods return whether theirs did, and the queue says why not.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from agentcore.escalation_model import Escalation, EscalationState, PendingStatus
from agentcore.models import EscalationReason, PendingAction, Request, storable
from agentcore.storage._audit import record as audit
from agentcore.storage._connection import transaction, translated
from agentcore.storage._writer import OutcomeWriter
from agentcore.tool_results import ToolResults

_EFFECTIVE_STATE = ("CASE WHEN e.state = 'claimed' AND e.lease_expires_at <= :now"
                    " THEN 'open' ELSE e.state END")
# An expired claim reads as open: "open" is stored as open or claimed. Shared with
# PostgreSQL's queue (`_pg_escalations`), as are the row mapping and NO_DRAFTS.
STORED_AS = {EscalationState.OPEN: (EscalationState.OPEN, EscalationState.CLAIMED),
             EscalationState.CLAIMED: (EscalationState.CLAIMED,),
             EscalationState.RESOLVED: (EscalationState.RESOLVED,),
             EscalationState.HANDED_BACK: (EscalationState.HANDED_BACK,)}
_SELECT = f"""
SELECT e.id, e.request_id, e.reason, {_EFFECTIVE_STATE} AS state, e.created_at,
       e.claimed_by, e.lease_expires_at, e.resolved_at, e.resolved_by, e.resolution,
       e.note, e.context, e.pending_status, e.pending_result, e.reply_draft, e.note_draft,
       e.draft_by, e.approving_until, e.pending_history,
       r.text, r.customer_id, r.channel, r.received_at, r.note AS request_note
FROM escalations e JOIN requests r ON r.id = e.request_id
"""
# Half-written texts are done with once the item is resolved (the reply is the
# outcome now) or handed back (the agent's next draft supersedes them).
NO_DRAFTS = ", reply_draft = NULL, note_draft = NULL, draft_by = NULL"


def escalation_from_row(row: dict[str, Any]) -> Escalation:
    context = json.loads(row["context"])
    pending = context.get("pending_action")
    live_claim = row["state"] == EscalationState.CLAIMED
    return Escalation(
        id=row["id"],
        request=Request(text=row["text"], customer_id=row["customer_id"],
                        channel=row["channel"], id=row["request_id"],
                        received_at=row["received_at"], note=row["request_note"]),
        reason=EscalationReason(row["reason"]), state=EscalationState(row["state"]),
        created_at=row["created_at"],
        claimed_by=row["claimed_by"] if live_claim else None,
        lease_expires_at=row["lease_expires_at"] if live_claim else None,
        resolved_at=row["resolved_at"], resolved_by=row["resolved_by"],
        resolution=row["resolution"], note=row["note"], intent=context.get("intent"),
        draft_answer=context.get("draft_answer"),
        tool_results=ToolResults.from_dict(context.get("tool_results")),
        errors=context.get("errors") or [],
        pending_action=PendingAction(**pending) if pending else None,
        pending_status=PendingStatus(row["pending_status"]) if row["pending_status"]
        else PendingStatus.WAITING if pending else None,  # a row from before the queue
        pending_result=json.loads(row["pending_result"]) if row["pending_result"] else None,
        reply_draft=row["reply_draft"], note_draft=row["note_draft"], draft_by=row["draft_by"],
        approving_until=row["approving_until"],
        earlier_actions=json.loads(row["pending_history"]) if row["pending_history"] else [])


def record_json(value: Any) -> str:
    return json.dumps(value, default=str)


class SQLiteEscalations:
    """`EscalationRepository` over the engine database."""

    def __init__(self, conn: sqlite3.Connection, writer: OutcomeWriter, *,
                 owner: str | None = None) -> None:
        self._conn = conn
        self._writer = writer
        self._owner = owner  # the instance a hand-back's re-run runs in (`_instances`)

    # -- plumbing ------------------------------------------------------------

    def _rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        self._writer.flush()  # an escalation the engine just returned is on disk first
        with translated("reading the escalation queue failed"):
            cur = self._conn.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._writer.flush()  # never under an outcome still on its way (a re-run's)
        with translated("writing the escalation queue failed"), \
                transaction(self._conn, "IMMEDIATE") as conn:
            yield conn

    def _hold(self, conn: sqlite3.Connection, escalation_id: int, operator: str, now: float,
              sets: str, params: tuple[Any, ...], *, undecided: bool = False) -> bool:
        """Updates the item only while `operator`'s claim is live and, with `undecided`,
        only while its pending write is still to be decided."""
        also = " AND pending_status IN ('waiting', 'failed')" if undecided else ""
        cur = conn.execute(
            f"UPDATE escalations SET {sets} WHERE id = ? AND state = 'claimed'"
            f" AND claimed_by = ? AND lease_expires_at > ?{also}",
            (*params, escalation_id, operator, now))
        return cur.rowcount == 1

    # -- reading -------------------------------------------------------------

    def get(self, escalation_id: int, now: float) -> Escalation | None:
        rows = self._rows(_SELECT + "WHERE e.id = :id", {"id": escalation_id, "now": now})
        return escalation_from_row(rows[0]) if rows else None

    def of_request(self, request_id: str) -> int | None:
        """The id of a request's item; None when it never escalated."""
        rows = self._rows("SELECT id FROM escalations WHERE request_id = :rid",
                          {"rid": request_id})
        return int(rows[0]["id"]) if rows else None

    def waiting_of(self, customer_id: int, reason: EscalationReason) -> int | None:
        """The oldest of a customer's items for `reason` that is still an operator's to
        answer (open or claimed, a lapsed claim too), or None."""
        rows = self._rows(
            "SELECT e.id FROM escalations e JOIN requests r ON r.id = e.request_id"
            " WHERE e.state IN ('open', 'claimed') AND e.reason = :reason"
            " AND r.customer_id = :cid ORDER BY e.id LIMIT 1",
            {"reason": str(reason), "cid": customer_id})
        return int(rows[0]["id"]) if rows else None

    def list(self, now: float, state: EscalationState | None = None,
             reason: EscalationReason | None = None, *, after_id: int | None = None,
             limit: int | None = None, latest_resolved_first: bool = False,
             approving: bool = False) -> list[Escalation]:
        where, params = self._filter(now, state, reason, after_id)
        if approving:
            where = (where + "AND " if where else "WHERE ") + "e.pending_status = 'approving' "
        order = ("e.resolved_at DESC, e.id DESC" if latest_resolved_first
                 else "e.created_at, e.id")
        sql = _SELECT + where + f"ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = limit
        return [escalation_from_row(r) for r in self._rows(sql, params)]

    def count(self, now: float, state: EscalationState | None = None,
              reason: EscalationReason | None = None) -> int:
        where, params = self._filter(now, state, reason, None)
        return int(self._rows(f"SELECT COUNT(*) AS n FROM escalations e {where}",
                              params)[0]["n"])

    def resolved_among(self, ids: Iterable[int]) -> tuple[int, ...]:
        wanted = json.dumps(list(ids))
        if wanted == "[]":
            return ()
        # Driven by the ids (a primary-key lookup each), not by the resolved items,
        # which a busy day counts in tens of thousands.
        rows = self._rows("SELECT e.id FROM json_each(:ids) AS j CROSS JOIN escalations AS e"
                          " ON e.id = j.value WHERE e.state = 'resolved' ORDER BY e.id",
                          {"ids": wanted})
        return tuple(int(r["id"]) for r in rows)

    def newest_id(self) -> int:
        return int(self._rows("SELECT COALESCE(MAX(id), 0) AS n FROM escalations", {})[0]["n"])

    def lapsed_claims(self, now: float) -> tuple[tuple[int, float], ...]:
        """(id, when its lease ended) of each claim that lapsed and was not taken again:
        a lapse changes no row (the item just reads as open), so /metrics counts lease
        expiries from these, each pair once."""
        rows = self._rows("SELECT id, lease_expires_at FROM escalations WHERE state = 'claimed'"
                          " AND lease_expires_at <= :now ORDER BY id", {"now": now})
        return tuple((int(r["id"]), float(r["lease_expires_at"])) for r in rows)

    @staticmethod
    def _filter(now: float, state: EscalationState | None, reason: EscalationReason | None,
                after_id: int | None) -> tuple[str, dict[str, Any]]:
        where = []
        if state is not None:
            # The stored states an effective state can come from, first: the index on
            # state then skips the resolved items, which pile up for ever.
            stored = ", ".join(f"'{s}'" for s in STORED_AS[state])
            where.append(f"e.state IN ({stored}) AND {_EFFECTIVE_STATE} = :state")
        if reason is not None:
            where.append("e.reason = :reason")
        if after_id is not None:
            where.append("e.id > :after_id")
        params = {"now": now, "state": state, "after_id": after_id,
                  "reason": str(reason) if reason is not None else None}
        return (f"WHERE {' AND '.join(where)} " if where else ""), params

    # -- claims --------------------------------------------------------------

    def claim(self, escalation_id: int, operator: str, now: float, until: float) -> bool:
        """An open item (or one's own claim, renewed, or a lapsed one) is `operator`'s.
        The audit log keeps a claim taken, not each renewal of one held."""
        with self._transaction() as conn:
            before = conn.execute("SELECT state, claimed_by, lease_expires_at FROM escalations"
                                  " WHERE id = ?", (escalation_id,)).fetchone()
            won = conn.execute(
                "UPDATE escalations SET state = 'claimed', claimed_by = ?, lease_expires_at = ?"
                " WHERE id = ? AND (state = 'open' OR (state = 'claimed'"
                " AND (lease_expires_at <= ? OR claimed_by = ?)))",
                (operator, until, escalation_id, now, operator)).rowcount == 1
            if won and before is not None:
                state, holder, lease = before
                held = state == "claimed" and lease is not None
                if not (held and holder == operator and lease > now):
                    lapsed = held and holder != operator
                    audit(conn, now, operator, "claim", f"escalation {escalation_id}",
                           f"after {holder}'s claim lapsed" if lapsed else "")
            return won

    def release(self, escalation_id: int, operator: str, now: float) -> bool:
        with self._transaction() as conn:
            released = conn.execute(
                "UPDATE escalations SET state = 'open', claimed_by = NULL,"
                " lease_expires_at = NULL WHERE id = ? AND state = 'claimed' AND claimed_by = ?",
                (escalation_id, operator)).rowcount == 1
            if released:
                audit(conn, now, operator, "release", f"escalation {escalation_id}")
            return released

    def save_draft(self, escalation_id: int, operator: str, now: float, reply: str,
                   note: str) -> bool:
        with self._transaction() as conn:
            return conn.execute(
                "UPDATE escalations SET reply_draft = ?, note_draft = ?, draft_by = ?"
                " WHERE id = ? AND state = 'claimed' AND claimed_by = ?"
                " AND lease_expires_at > ?",
                (storable(reply) or None, storable(note) or None, operator, escalation_id,
                 operator, now)).rowcount == 1

    # -- ending an item ------------------------------------------------------

    def reply(self, item: Escalation, operator: str, now: float, text: str,
              label: str | None) -> bool:
        """Resolved with the operator's reply: the outcome becomes theirs (route
        'human') and the pair a labelled example, in one transaction."""
        request = item.request
        with self._transaction() as conn:
            if not self._hold(conn, item.id, operator, now,
                              "state = 'resolved', resolved_at = ?, resolved_by = ?,"
                              " resolution = 'replied'" + NO_DRAFTS, (now, operator)):
                return False
            conn.execute(
                "UPDATE outcomes SET route = 'human', status = 'answered', answer = ?,"
                " intent = COALESCE(?, intent), latency_ms = ?, finished_at = ?, operator = ?"
                " WHERE request_id = ?",
                (text, label, (now - request.received_at) * 1000, now, operator, request.id))
            conn.execute("UPDATE requests SET status = 'answered' WHERE id = ?", (request.id,))
            conn.execute(
                "INSERT OR REPLACE INTO labelled_examples (request_id, text, customer_id,"
                " intent, answer, source, operator, created_at) VALUES (?,?,?,?,?,'human',?,?)",
                (request.id, request.text, request.customer_id, label, text, operator, now))
            audit(conn, now, operator, "reply", f"escalation {item.id}",
                   (f"[{label}] " if label else "") + text)
        return True

    def resolve(self, item: Escalation, operator: str, now: float) -> bool:
        """Closed as handled elsewhere: the outcome is the operator's (route 'human'),
        so route mix and latency count it as handled, though no answer was written."""
        request = item.request
        with self._transaction() as conn:
            if not self._hold(conn, item.id, operator, now,
                              "state = 'resolved', resolved_at = ?, resolved_by = ?,"
                              " resolution = 'resolved'" + NO_DRAFTS, (now, operator)):
                return False
            conn.execute(
                "UPDATE outcomes SET route = 'human', status = 'answered', answer = ?,"
                " latency_ms = ?, finished_at = ?, operator = ? WHERE request_id = ?",
                (f"(resolved by {operator} outside the console)",
                 (now - request.received_at) * 1000, now, operator, request.id))
            conn.execute("UPDATE requests SET status = 'answered' WHERE id = ?", (request.id,))
            audit(conn, now, operator, "resolve", f"escalation {item.id}",
                   "handled outside the console")
        return True

    def hand_back(self, item: Escalation, operator: str, now: float, note: str,
                  denial: dict[str, Any] | None) -> bool:
        """Handed back with the operator's note (and its undecided write denied, with
        `denial`); the request is marked accepted again, with the note, in the same
        transaction: a crash before or during the re-run leaves it for `resume`."""
        sets = "state = 'handed_back', note = ?, lease_expires_at = NULL" + NO_DRAFTS
        params: tuple[Any, ...] = (note,)
        if denial is not None:
            sets += ", pending_status = 'denied', pending_result = ?"
            params += (record_json(denial),)
        with self._transaction() as conn:
            # Denying the write: only while it is still to be decided (another
            # station's approval of it may have started since it was read).
            if not self._hold(conn, item.id, operator, now, sets, params,
                              undecided=denial is not None):
                return False
            # This instance re-runs it: no other may take it over meanwhile.
            conn.execute("UPDATE requests SET note = ?, status = 'accepted', owner = ?"
                         " WHERE id = ?", (note, self._owner, item.request_id))
            audit(conn, now, operator, "hand_back", f"escalation {item.id}",
                   note + (" (its write denied)" if denial is not None else ""))
        return True

    # -- the pending write ----------------------------------------------------

    def start_approval(self, escalation_id: int, operator: str, now: float,
                       record: dict[str, Any], until: float) -> bool:
        """'approving' until `until`: no second approval starts meanwhile, anywhere."""
        with self._transaction() as conn:
            started = self._hold(conn, escalation_id, operator, now,
                                 "pending_status = 'approving', pending_result = ?,"
                                 " approving_until = ?", (record_json(record), until),
                                 undecided=True)
            if started:
                audit(conn, now, operator, "approve", f"escalation {escalation_id}",
                      approval_detail(record))
            return started

    def deny(self, escalation_id: int, operator: str, now: float,
             record: dict[str, Any]) -> bool:
        with self._transaction() as conn:
            denied = self._hold(conn, escalation_id, operator, now,
                                "pending_status = 'denied', pending_result = ?",
                                (record_json(record),), undecided=True)
            if denied:
                audit(conn, now, operator, "deny", f"escalation {escalation_id}",
                      str(record.get("reason") or ""))
            return denied

    def end_approval(self, escalation_id: int, status: PendingStatus,
                     record: dict[str, Any]) -> None:
        """Records how an approval ended, whatever the lease says now. A write that
        happened is recorded as done even over a "failed" or "denied" another console
        wrote while it ran: the domain's record is the truth."""
        was = ("'approving', 'failed', 'denied'" if status is PendingStatus.APPROVED
               else "'approving'")
        with self._transaction() as conn:
            ended = conn.execute("UPDATE escalations SET pending_status = ?, pending_result = ?,"
                                 " approving_until = NULL WHERE id = ?"
                                 f" AND pending_status IN ({was})",
                                 (str(status), record_json(record), escalation_id)).rowcount
            if ended:
                audit(conn, *write_entry(escalation_id, status, record))


# The audit entries' words, shared with PostgreSQL's queue so both say the same.
def approval_detail(record: dict[str, Any]) -> str:
    override = record.get("override")
    held = f"over the policy: {override}" if override else "within the policy"
    return f"{held}; arguments {record_json(record.get('arguments'))}"


def write_entry(escalation_id: int, status: PendingStatus,
                record: dict[str, Any]) -> tuple[float, str, str, str, str]:
    """(at, operator, kind, item, detail) of how a pending write ended: when and by whom
    its record says (the agent's, with no one named)."""
    at = record.get("at")
    return (at if isinstance(at, (int, float)) else 0.0, str(record.get("by") or "agent"),
            "write", f"escalation {escalation_id}",
            f"{status}" + (f": {record['error']}" if record.get("error") else ""))
