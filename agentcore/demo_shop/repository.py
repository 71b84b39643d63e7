"""The demo shop's data: fast keyed reads, and idempotent writes held to policy.

Reads are microsecond-scale primary-key lookups, so they run inline on the
event loop. Each write records an idempotency row in the same transaction,
keyed by (request, tool, target entity): a retry of the same request returns
the first result and never acts twice. A refund checks everything that makes it
allowed inside that same IMMEDIATE transaction (at least a cent, at most what is
left of what was paid, at most the policy's quote unless an operator overrides
it), so concurrent refunds of one order, from one process or several, are
serialised by SQLite's write lock and can never together exceed it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from agentcore.demo_shop.policy import RefundLimits, refund_limits
from agentcore.demo_shop.schema import SHOP_SCHEMA
from agentcore.errors import StorageError, ToolError, WriteRefused
from agentcore.models import PolicyOverride
from agentcore.storage import transaction

# A reset link is sent at most once in this many seconds per customer (it works for an
# hour, so the earlier one still does).
RESET_RESEND_AFTER_S = 300

log = logging.getLogger("agentcore.shop")

_ORDER_SQL = """
SELECT o.*, p.name AS product, p.category AS category,
       COALESCE((SELECT SUM(amount_cents) FROM refunds r WHERE r.order_id = o.id), 0)
           AS refunded_cents
FROM orders o JOIN products p ON p.id = o.product_id WHERE o.id = ?
"""


def _rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class Shop:
    def __init__(self, path: Path | str, today: date | None = None) -> None:
        self.path = Path(path)
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            # Another process (a second console, a service) may hold the write lock for
            # the microseconds of its write: wait for it rather than fail the refund.
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(SHOP_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open shop database {self.path}: {exc}") from exc
        self.conn = conn
        self._today = today
        self._listeners: list[Callable[[list[str]], None]] = []

    def close(self) -> None:
        self.conn.close()

    @property
    def today(self) -> date:
        """The shop's date: a demo shop's fixed `as_of`, else the calendar's, read each
        time (a console running past midnight must not keep yesterday's refund windows)."""
        if self._today is None:
            row = self.conn.execute("SELECT value FROM meta WHERE key='as_of'").fetchone()
            if row is None:
                return date.today()
            self._today = date.fromisoformat(row[0])
        return self._today

    def on_change(self, listener: Callable[[list[str]], None]) -> None:
        """Called with entity tags (`order:12345`, `customer:42`) after each write."""
        self._listeners.append(listener)

    # -- reads ---------------------------------------------------------------

    def _one(self, sql: str, *args: Any) -> dict[str, Any] | None:
        rows = _rows(self.conn.execute(sql, args))
        return rows[0] if rows else None

    def get_order(self, order_id: int) -> dict[str, Any] | None:
        return self._one(_ORDER_SQL, order_id)

    def get_payments(self, order_id: int) -> list[dict[str, Any]]:
        return _rows(self.conn.execute(
            "SELECT * FROM payments WHERE order_id = ? ORDER BY created_at", (order_id,)))

    def get_refunds(self, order_id: int) -> list[dict[str, Any]]:
        return _rows(self.conn.execute(
            "SELECT * FROM refunds WHERE order_id = ? ORDER BY id", (order_id,)))

    def get_refund_policy(self, order_id: int) -> dict[str, Any] | None:
        return self._one(
            "SELECT c.name AS category, c.refund_window_days, c.restocking_fee_pct "
            "FROM orders o JOIN products p ON p.id = o.product_id "
            "JOIN categories c ON c.name = p.category WHERE o.id = ?", order_id)

    def refund_limits(self, order_id: int) -> RefundLimits | None:
        """Paid, refunded and the policy's quote for an order, as of now (None: no
        such order)."""
        order = self.get_order(order_id)
        policy = self.get_refund_policy(order_id)
        if order is None or policy is None:
            return None
        return refund_limits(order, self.get_payments(order_id), policy, self.today)

    def refund_windows(self) -> list[dict[str, Any]]:
        return _rows(self.conn.execute("SELECT * FROM categories ORDER BY name"))

    def get_customer(self, customer_id: int) -> dict[str, Any] | None:
        return self._one(
            "SELECT c.*, a.status AS account_status, a.last_login_at, a.password_reset_sent_at,"
            " a.store_credit_cents FROM customers c LEFT JOIN accounts a ON a.customer_id = c.id"
            " WHERE c.id = ?", customer_id)

    def recent_orders(self, customer_id: int, limit: int = 5) -> list[dict[str, Any]]:
        return _rows(self.conn.execute(
            "SELECT o.id, o.status, o.total_cents, o.placed_at, p.name AS product "
            "FROM orders o JOIN products p ON p.id = o.product_id WHERE o.customer_id = ? "
            "ORDER BY o.placed_at DESC LIMIT ?", (customer_id, limit)))

    def search_faq(self, query: str, limit: int = 3) -> list[dict[str, Any]]:
        """Keyword search; entries sharing more words with the query rank first."""
        words = {w for w in "".join(c if c.isalnum() else " " for c in query.lower()).split()
                 if len(w) > 2}
        scored = []
        for row in _rows(self.conn.execute("SELECT id, question, answer, tags FROM faq")):
            hay = set(f"{row['question']} {row['tags']}".lower().replace("?", " ").split())
            score = len(words & hay)
            if score:
                scored.append((score, row["id"], row))
        scored.sort(key=lambda t: (-t[0], t[1]))
        return [r for _, _, r in scored[:limit]]

    # -- idempotent writes ---------------------------------------------------

    def _idempotent(self, request_id: str, tool: str, target: str, arguments: dict[str, Any],
                    act: Callable[[], dict[str, Any]], tags: list[str]) -> dict[str, Any]:
        key = f"{request_id}:{tool}:{target}"
        now = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            with transaction(self.conn, "IMMEDIATE") as conn:
                row = conn.execute("SELECT result, arguments FROM tool_actions WHERE key = ?",
                                   (key,)).fetchone()
                if row is not None:
                    # Acts once, whatever is asked again; `as_asked` says whether the
                    # first time was the same write (a retry) or another one (a refund of
                    # $1 where $49.99 is asked now), which the caller must not take as done.
                    done: dict[str, Any] = json.loads(row[0])
                    same = json.loads(row[1]) == json.loads(json.dumps(arguments,
                                                                       sort_keys=True))
                    return done | {"replayed": True, "as_asked": same}
                result = act()
                conn.execute(
                    "INSERT INTO tool_actions VALUES (?, ?, ?, ?, ?, ?)",
                    (key, request_id, tool, json.dumps(arguments, sort_keys=True),
                     json.dumps(result), now))
        except sqlite3.Error as exc:
            raise StorageError(f"{tool} failed in the shop database: {exc}") from exc
        for listener in self._listeners:
            listener(tags)
        return result

    def issue_refund(self, request_id: str, order_id: int, amount_cents: int, reason: str,
                     *, override: PolicyOverride | None = None) -> dict[str, Any]:
        """Refunds `amount_cents` on an order, or raises WriteRefused saying which limit
        it is above. `override` lifts the policy's quote, never what is left of what
        was paid."""
        def act() -> dict[str, Any]:
            # Read inside the write's transaction: no other refund lands between this
            # check and the insert, in this process or any other.
            limits = self.refund_limits(order_id)
            if limits is None:
                raise ToolError(f"order {order_id} does not exist")
            _check_refund(order_id, amount_cents, limits, override)
            why = reason if override is None else (
                f"{reason} (policy overridden by {override.operator}: {override.reason})")
            cur = self.conn.execute(
                "INSERT INTO refunds (order_id, amount_cents, reason, created_at, request_id) "
                "VALUES (?, ?, ?, ?, ?)",
                (order_id, amount_cents, why[:1000], self.today.isoformat(), request_id))
            result: dict[str, Any] = {"refund_id": cur.lastrowid, "order_id": order_id,
                                      "amount_cents": amount_cents, "status": "issued"}
            if override is not None:
                result["override"] = {"by": override.operator, "reason": override.reason}
            return result

        order = self.get_order(order_id)
        tags = [f"order:{order_id}"] + ([f"customer:{order['customer_id']}"] if order else [])
        return self._idempotent(request_id, "issue_refund", f"order:{order_id}",
                                {"order_id": order_id, "amount_cents": amount_cents}, act, tags)

    def cancel_order(self, request_id: str, order_id: int, reason: str) -> dict[str, Any]:
        def act() -> dict[str, Any]:
            order = self.get_order(order_id)
            if order is None:
                raise ToolError(f"order {order_id} does not exist")
            if order["status"] != "processing":
                return {"order_id": order_id, "status": order["status"], "cancelled": False,
                        "why": f"an order that is {order['status']} can no longer be cancelled"}
            self.conn.execute("UPDATE orders SET status='cancelled' WHERE id = ?", (order_id,))
            # The money goes back with the order, in the same transaction: a cancelled order
            # still holding a capture would read as "payment released" with nothing released.
            released = self.conn.execute(
                "UPDATE payments SET status = 'refunded' WHERE order_id = ? AND status = "
                "'captured'", (order_id,)).rowcount
            return {"order_id": order_id, "status": "cancelled", "cancelled": True,
                    "payments_released": released}

        order = self.get_order(order_id)
        tags = [f"order:{order_id}"] + ([f"customer:{order['customer_id']}"] if order else [])
        return self._idempotent(request_id, "cancel_order", f"order:{order_id}",
                                {"order_id": order_id, "reason": reason}, act, tags)

    def send_password_reset(self, request_id: str, customer_id: int) -> dict[str, Any]:
        def act() -> dict[str, Any]:
            customer = self.get_customer(customer_id)
            if customer is None:
                raise ToolError(f"customer {customer_id} does not exist")
            now = datetime.now(UTC)
            last = customer["password_reset_sent_at"]
            if last and 0 <= (now - _aware(last)).total_seconds() < RESET_RESEND_AFTER_S:
                # Asking again (a script, or an impatient customer) sends no second mail:
                # each costs nothing to ask for and lands in the same inbox.
                return {"customer_id": customer_id, "sent_to": customer["email"],
                        "status": "sent recently", "sent_at": last}
            self.conn.execute(
                "UPDATE accounts SET password_reset_sent_at = ? WHERE customer_id = ?",
                (now.isoformat(timespec="seconds"), customer_id))
            return {"customer_id": customer_id, "sent_to": customer["email"], "status": "sent"}

        return self._idempotent(request_id, "send_password_reset", f"customer:{customer_id}",
                                {"customer_id": customer_id}, act, [f"customer:{customer_id}"])

    def has_acted(self, request_id: str, tool: str, target: str) -> bool:
        """Whether this request already ran this write (a retry would only replay it)."""
        return self.conn.execute("SELECT 1 FROM tool_actions WHERE key = ?",
                                 (f"{request_id}:{tool}:{target}",)).fetchone() is not None

    def action_result(self, request_id: str, tool: str, target: str,
                      arguments: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """What this request's write did, as the shop recorded it (None: never done).
        With `arguments` (as the write records them), `as_asked` says whether it was
        that write, as a replay of it does (`_idempotent`)."""
        row = self.conn.execute("SELECT result, arguments FROM tool_actions WHERE key = ?",
                                (f"{request_id}:{tool}:{target}",)).fetchone()
        if row is None:
            return None
        done = dict(json.loads(row[0]))
        if arguments is not None:
            done["as_asked"] = json.loads(row[1]) == json.loads(json.dumps(arguments,
                                                                          sort_keys=True))
        return done

    def actions_for(self, request_id: str) -> list[dict[str, Any]]:
        return _rows(self.conn.execute(
            "SELECT * FROM tool_actions WHERE request_id = ? ORDER BY created_at", (request_id,)))


def _aware(iso: str) -> datetime:
    """A stored time as an aware UTC datetime (the generator's carry no zone)."""
    at = datetime.fromisoformat(iso)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _dollars(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def _check_refund(order_id: int, amount_cents: int, limits: RefundLimits,
                  override: PolicyOverride | None) -> None:
    figures = limits.as_dict()
    if type(amount_cents) is not int or amount_cents < 1:
        raise WriteRefused(f"a refund must be at least $0.01, not {amount_cents!r} cents",
                           figures)
    asked = _dollars(amount_cents)
    quote = limits.quote  # never more than is left of what was paid
    if override is None and amount_cents > quote.allowed_cents:
        raise WriteRefused(
            f"refund of {asked} on order {order_id} exceeds what the policy allows "
            f"({_dollars(quote.allowed_cents)}: {quote.reason})", figures)
    if amount_cents > limits.left_cents:
        raise WriteRefused(
            f"a refund of {asked} on order {order_id} is more than is left of what was paid "
            f"({_dollars(limits.left_cents)} of {_dollars(limits.paid_cents)}; "
            f"{_dollars(limits.refunded_cents)} refunded already)", figures)
