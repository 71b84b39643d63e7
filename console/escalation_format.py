"""How an escalation reads to an operator: plain functions from core data to short
text or escaped HTML, shared by the queue table and the context panel."""

from __future__ import annotations

import html
import json
from typing import Any

from agentcore import Escalation, OutcomeSummary, PendingAction


def waiting_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def money(dollars: float) -> str:
    return f"{'-' if dollars < 0 else ''}${abs(dollars):,.2f}"


def _quotes(item: Escalation) -> list[dict[str, Any]]:
    return [q for key, q in item.tool_results.items()
            if key.startswith("refund_quote:") and isinstance(q, dict)]


def action_text(action: PendingAction) -> str:
    """"issue_refund $42.10 on order 12345": what approving would do."""
    args = action.arguments
    parts = [action.tool.replace("_", " ")]
    if "amount" in args:
        try:
            parts.append(money(float(args["amount"])))
        except (TypeError, ValueError):  # an operator's edit in progress
            parts.append(repr(args["amount"]))
    if "order_id" in args:
        parts.append(f"on order {args['order_id']}")
    if "customer_id" in args:
        parts.append(f"for customer {args['customer_id']}")
    return " ".join(parts)


def allowed_text(action: PendingAction) -> str:
    """What the policy allows for the pending write, in words."""
    allowed = action.allowed or {}
    if "allowed_cents" in allowed:
        why = allowed.get("reason")
        return (f"policy allows up to {money(allowed['allowed_cents'] / 100)}"
                + (f" ({why})" if why else ""))
    return "no policy limit recorded for this action"


def at_stake(item: Escalation) -> tuple[str, float | None]:
    """The money the item is about, for the queue's column: what a refused write asked
    for, else a pending write's amount, else what the refund quote allows, else the
    order's total the agent looked up."""
    pending = item.pending_action
    asked = (pending.requested or {}).get("amount") if pending is not None else None
    if isinstance(asked, int | float) and not isinstance(asked, bool):
        return f"{money(float(asked))} asked", float(asked)  # refused: what is at issue
    if pending is not None and "amount" in pending.arguments:
        amount = float(pending.arguments["amount"])
        return f"{money(amount)} {pending.tool.removeprefix('issue_')}", amount
    quotes = _quotes(item)
    if quotes:
        amount = sum(q.get("allowed_cents", 0) for q in quotes) / 100
        return f"{money(amount)} quoted", amount
    for call in item.tool_results.values():
        result = call.get("result") if isinstance(call, dict) else None
        if call.get("tool") == "get_order" and isinstance(result, dict) \
                and "total_cents" in result:
            amount = result["total_cents"] / 100
            return f"{money(amount)} order", amount
    return "—", None


def customer_html(customer: dict[str, Any] | None, orders: list[dict[str, Any]]) -> str:
    if customer is None:
        return "<i>anonymous: no customer record</i>"
    facts = " · ".join(html.escape(f"{k.replace('_', ' ')}: {v}") for k, v in customer.items()
                       if v is not None and k != "id")
    rows = "".join(
        f"<tr><td>{o['id']}</td><td>{html.escape(str(o.get('product', '')))}</td>"
        f"<td>{html.escape(str(o.get('status', '')))}</td>"
        f"<td align='right'>{money(o.get('total_cents', 0) / 100)}</td>"
        f"<td>{html.escape(str(o.get('placed_at', ''))[:10])}</td></tr>" for o in orders)
    table = (f"<table cellspacing='0' cellpadding='2'><tr><th align='left'>Order</th>"
             f"<th align='left'>Product</th><th align='left'>Status</th>"
             f"<th align='right'>Total</th><th align='left'>Placed</th></tr>{rows}</table>"
             if orders else "<i>no orders</i>")
    return f"<b>Customer {customer.get('id')}</b> · {facts}<br>{table}"


def tool_calls_html(item: Escalation) -> str:
    """Each tool call with its arguments and result (or error), then the refund quotes."""
    parts = []
    for key, call in item.tool_results.items():
        if key.startswith("refund_quote:"):
            parts.append(f"<b>refund quote</b> {html.escape(json.dumps(call, default=str))}")
            continue
        if not isinstance(call, dict):
            continue
        args = html.escape(json.dumps(call.get("arguments"), default=str))
        if "error" in call:
            outcome = f"<span style='color:#e5534b'>error: {html.escape(str(call['error']))}</span>"
        else:
            outcome = html.escape(json.dumps(call.get("result"), default=str)[:600])
        parts.append(f"<b>{html.escape(str(call.get('tool')))}</b>({args}) → {outcome}")
    parts.extend(_earlier_html(earlier) for earlier in item.earlier_actions)
    return "<br>".join(parts) or "<i>no tool calls</i>"


def _earlier_html(earlier: dict[str, Any]) -> str:
    """A pending write settled before the item was handed back and escalated again."""
    action = earlier.get("action") or {}
    record = earlier.get("result") or {}
    what = action_text(PendingAction(str(action.get("tool")), action.get("arguments") or {}))
    how = f"{earlier.get('status')} by {record.get('by', '?')}"
    if record.get("override"):
        how += f", over the policy: {record['override']}"
    done = record.get("result") or {}
    if "amount_cents" in done:
        how += f"; {money(done['amount_cents'] / 100)} refunded"
    return f"<b>earlier</b> {html.escape(what)}: {html.escape(how)}"


def reasoning_html(item: Escalation) -> str:
    """Why the agent stopped, in its own words: the recorded errors and each LLM
    call's decision (which tools it chose), from the trace."""
    lines = [html.escape(e) for e in item.errors]
    for span in item.spans:
        if span.name.startswith("llm[") or span.name == "classify":
            chose = span.attributes.get("tool_calls") or []
            said = span.attributes.get("reasoning")
            if said:
                what = said
            elif span.name == "classify":
                what = "named the intent"
            else:
                what = f"called {', '.join(chose)}" if chose else "wrote an answer"
            lines.append(f"{html.escape(span.name)}: {html.escape(str(what))}")
    return "<br>".join(lines) or "<i>nothing recorded</i>"


def outcome_text(outcome: OutcomeSummary | None) -> str:
    if outcome is None:
        return "no outcome recorded"
    answer = outcome.answer.strip()
    head = f"{outcome.status} by route {outcome.route}"
    return f"{head}: {answer}" if answer else head
