"""How an escalation reads to an operator: plain functions from core data to short
text or escaped HTML, shared by the queue table and the context panel: money with
its currency ("$24.00", never cents), times of day ("14:02, 3 min ago", never
ISO), the agent's tool calls as sentences, the conversation and the customer card."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from agentcore import (
    CustomerContext,
    Escalation,
    EscalationState,
    OutcomeSummary,
    PendingAction,
    PendingStatus,
)


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


def done_cents(result: Any, verb: str | None = None) -> int | None:
    """The money a write moved, from its result: the shop's `amount_cents`, else the
    figure named after the domain's verb (the library's `waived_cents`), else the one
    `..._cents` figure there is."""
    if not isinstance(result, dict):
        return None
    for key in ("amount_cents", f"{past_tense(verb)}_cents" if verb else ""):
        if isinstance(result.get(key), int):
            return int(result[key])
    found = [v for k, v in result.items() if k.endswith("_cents") and isinstance(v, int)
             and not isinstance(v, bool)]
    return found[0] if len(found) == 1 else None


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
    # Any other domain's records: "renew loan on loan 4711" reads better than nothing.
    for name, value in args.items():
        if name.endswith("_id") and name not in ("order_id", "customer_id"):
            parts.append(f"on {name.removesuffix('_id').replace('_', ' ')} {value}")
    return " ".join(parts)


def allowed_text(action: PendingAction) -> str:
    """What the policy allows for the pending write, in words."""
    allowed = action.allowed or {}
    if "allowed_cents" in allowed:
        why = allowed.get("reason")
        return (f"policy allows up to {money(allowed['allowed_cents'] / 100)}"
                + (f" ({why})" if why else ""))
    return "no policy limit recorded for this action"


def customer_html(customer: CustomerContext | None) -> str:
    """The domain's context of who wrote: facts, then their records as a table."""
    if customer is None:
        return "<i>anonymous: no customer record</i>"
    facts = " · ".join(html.escape(f"{k.replace('_', ' ')}: {v}")
                       for k, v in customer.facts.items() if v is not None and k != "id")

    def cell(record: Mapping[str, Any], key: str) -> str:
        value = record.get(key, "")
        if key in customer.money_columns and isinstance(value, int | float):
            return f"<td align='right'>{money(value / 100)}</td>"
        return f"<td>{html.escape(str(value if value is not None else ''))[:40]}</td>"

    heads = "".join(f"<th align='left'>{html.escape(h)}</th>" for _, h in customer.columns)
    rows = "".join("<tr>" + "".join(cell(r, k) for k, _ in customer.columns) + "</tr>"
                   for r in customer.records)
    table = (f"<table cellspacing='0' cellpadding='2'><tr>{heads}</tr>{rows}</table>"
             if customer.records else "<i>no records</i>")
    return f"<b>{html.escape(customer.title)}</b> · {facts}<br>{table}"


def tool_calls_html(item: Escalation) -> str:
    """Each tool call with its arguments and result (or error), and the facts the
    engine derived from them (a refund quote)."""
    parts = []
    for call in item.tool_results:
        args = html.escape(json.dumps(call.arguments, default=str))
        if call.error is not None:
            outcome = f"<span style='color:#e5534b'>error: {html.escape(call.error)}</span>"
        else:
            outcome = html.escape(json.dumps(call.result, default=str)[:600])
        parts.append(f"<b>{html.escape(call.tool)}</b>({args}) → {outcome}")
    for fact in item.tool_results.facts:  # derived by the engine from the reads above
        parts.append(f"<b>{html.escape(fact.kind.replace('_', ' '))}</b> "
                     f"{html.escape(json.dumps(fact.data, default=str))}")
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
    cents = done_cents(record.get("result"))
    if cents is not None:
        how += f"; {money(cents / 100)} done"
    return f"<b>earlier</b> {html.escape(what)}: {html.escape(how)}"


def reasoning_html(item: Escalation) -> str:
    """Why the agent stopped: the reason first, then the recorded errors and each
    model call's decision (which tools it chose), from the trace."""
    lines = [f"<b>{html.escape(str(item.reason).capitalize())}</b>"]
    lines += [html.escape(e) for e in item.errors]
    calls = 0
    for span in item.spans:
        if span.name.startswith("llm[") or span.name == "classify":
            chose = span.attributes.get("tool_calls") or []
            said = span.attributes.get("reasoning")
            if span.name == "classify":
                who, what = "Intent", said or f"named it {item.intent or '—'}"
            else:
                calls += 1
                who = f"Model call {calls}"
                what = said or (f"chose {', '.join(chose)}" if chose else "wrote an answer")
            lines.append(f"{who}: {html.escape(str(what))}")
    return "<br>".join(lines)


def outcome_text(outcome: OutcomeSummary | None) -> str:
    if outcome is None:
        return "no outcome recorded"
    answer = outcome.answer.strip()
    head = f"{outcome.status} by route {outcome.route}"
    return f"{head}: {answer}" if answer else head


def past_tense(verb: str) -> str:
    """"refund" -> "refunded", "waive" -> "waived": a domain's verb for its write."""
    return verb + ("d" if verb.endswith("e") else "ed")


def settled_writes(item: Escalation) -> list[str]:
    """The writes an item's operators settled, in words ("refund $49.99 approved"), the
    current one and any from before a hand-back: a resolved item's listing says what
    was done for the customer, not only who closed it."""
    done = [*(e for e in item.earlier_actions if e.get("status") == "approved")]
    if item.pending_action is not None and item.pending_status is PendingStatus.APPROVED:
        done.append({"action": {"tool": item.pending_action.tool,
                                "arguments": item.pending_action.arguments},
                     "result": item.pending_result or {}})
    said = []
    for record in done:
        action = record.get("action") or {}
        arguments = (record.get("result") or {}).get("arguments") or action.get(
            "arguments") or {}
        what = action_text(PendingAction(str(action.get("tool")), arguments))
        said.append(f"{what} approved")
    return said


# -- the workspace: a conversation, a customer card, readable steps --------------

def clock_time(at: float, now: float) -> str:
    """"14:02, 3 min ago": the time of day an operator reads, and how long since."""
    stamp = datetime.fromtimestamp(at).strftime("%H:%M")
    ago = now - at
    if ago < 60:
        return f"{stamp}, just now"
    if ago < 3600:
        return f"{stamp}, {int(ago // 60)} min ago"
    if ago < 86400:
        return f"{stamp}, {int(ago // 3600)} h ago"
    return datetime.fromtimestamp(at).strftime("%d %b %H:%M")


def cents_text(cents: int) -> str:
    return money(cents / 100)


def _turn(who: str, when: str, body: str, colour: str) -> str:
    return (f"<p style='margin:0 0 8px 0'><span style='color:{colour}'><b>{who}</b></span>"
            f" <span style='color:#8b949e'>{html.escape(when)}</span><br>{body}</p>")


def _text(value: str) -> str:
    return html.escape(value).replace("\n", "<br>")


def conversation_html(item: Escalation, now: float) -> str:
    """The item as a conversation: the customer's message, what the agent said or
    drafted, any hand-back note and the attempt after it, and how it was settled."""
    turns = [_turn("Customer", clock_time(item.request.received_at, now),
                   _text(item.request.text), "#58a6ff")]
    if item.note:  # handed back once, and escalated again: the new attempt follows
        turns.append(_turn("Operator → agent", "handed back", _text(item.note), "#d29922"))
    outcome = item.outcome
    answer = outcome.answer.strip() if outcome is not None else ""
    if item.state is EscalationState.RESOLVED and outcome is not None and answer:
        who = outcome.operator or ("Agent" if item.resolved_by == "agent" else "Operator")
        turns.append(_turn(html.escape(str(who)), clock_time(outcome.finished_at, now),
                           _text(answer), "#3fb950"))
    elif item.draft_answer:
        turns.append(_turn("Agent (draft, not sent)", f"stopped: {item.reason}",
                           _text(item.draft_answer), "#8b949e"))
    else:
        turns.append(_turn("Agent", f"stopped: {item.reason}",
                           "<i>wrote no answer</i>", "#8b949e"))
    return "".join(turns)


def _figures_text(data: Mapping[str, Any]) -> str:
    """A tool result's money and state in a few words: "delivered, $24.00"."""
    parts = [str(data[k]) for k in ("status", "state") if isinstance(data.get(k), str)]
    for key, value in data.items():
        if key.endswith("_cents") and isinstance(value, int) and not isinstance(value, bool):
            parts.append(f"{key.removesuffix('_cents').replace('_', ' ')} {cents_text(value)}")
    return ", ".join(parts[:4])


def step_text(tool: str, arguments: Mapping[str, Any] | None,
              result: Any, error: str | None) -> str:
    """One tool call, as a sentence: "Looked up order #1042 — delivered, total $24.00"."""
    args = arguments or {}
    named = [f"{k.removesuffix('_id').replace('_', ' ')} #{v}" for k, v in args.items()
             if k.endswith("_id")]
    noun = tool.split("_", 1)[-1].replace("_", " ")
    if tool.startswith("get_") and named and named[0].startswith(noun):
        head = f"Looked up {', '.join(named)}"  # get_order(order_id): "order #1042"
    elif tool.startswith("get_"):
        head = f"Looked up {noun}" + (f" for {', '.join(named)}" if named else "")
    elif tool.startswith("search_"):
        head = f"Searched the {noun} for “{args.get('query', '')}”"
    else:
        head = tool.replace("_", " ").capitalize() + (f" on {', '.join(named)}" if named
                                                       else "")
    if error is not None:
        return f"{head} — failed: {error}"
    if isinstance(result, dict):
        said = _figures_text(result)
    elif isinstance(result, list):
        said = f"{len(result)} found"
        money_rows = [r for r in result if isinstance(r, dict) and "amount_cents" in r]
        if money_rows:
            said = ", ".join(cents_text(int(r["amount_cents"])) for r in money_rows[:4])
    else:
        said = ""
    return head + (f" — {said}" if said else "")


def steps_html(item: Escalation) -> str:
    """What the agent did, readable: each tool call as a sentence, the facts the engine
    derived (a refund quote), and writes settled before a hand-back."""
    lines = []
    for n, call in enumerate(item.tool_results, 1):
        result = call.result.get("result", call.result) if isinstance(call.result, dict) \
            and set(call.result) == {"result"} else call.result
        lines.append(f"{n}. " + html.escape(step_text(call.tool, call.arguments, result,
                                                      call.error)))
    for fact in item.tool_results.facts:
        data = fact.data
        if "allowed_cents" in data:
            said = f"up to {cents_text(int(data['allowed_cents']))}"
            if data.get("reason"):
                said += f" ({data['reason']})"
        else:
            said = _figures_text(data)
        what = fact.kind.replace("_", " ").capitalize()
        lines.append(html.escape(f"{what}: {said}"))
    lines.extend(_earlier_html(earlier) for earlier in item.earlier_actions)
    return "<br>".join(lines) or "<i>no tool calls</i>"


def customer_card_html(customer: CustomerContext | None) -> str:
    """Name, tier, since when and credit, then the records: the request's first, each
    with its money side by side."""
    if customer is None:
        return "<i>anonymous: no customer record</i>"
    head = html.escape(customer.name or customer.title)
    bits = [html.escape(customer.title) if customer.name else ""]
    if customer.tier:
        bits.append(f"{html.escape(customer.tier)} tier")
    if customer.since is not None:
        bits.append(f"customer since {customer.since.strftime('%b %Y')}")
    if customer.credit_cents is not None:
        bits.append(f"{html.escape(customer.credit_label)} {cents_text(customer.credit_cents)}")
    lines = [f"<b style='font-size:13px'>{head}</b>",
             " · ".join(b for b in bits if b)]
    about = [r for r in customer.items if r.about]
    rest = [r for r in customer.items if not r.about]
    for title, records in (("This request is about", about), ("Recent", rest)):
        if not records:
            continue
        lines.append(f"<br><b>{title}</b>")
        for record in records:
            figures = " · ".join(f"{html.escape(name)}&nbsp;<b>{cents_text(cents)}</b>"
                                 for name, cents in record.figures)
            lines.append(f"{html.escape(record.title)} — {html.escape(record.summary)}"
                         + (f"<br>&nbsp;&nbsp;{figures}" if figures else ""))
    if not customer.items:
        return "<br>".join(lines) + "<br>" + customer_html(customer)
    return "<br>".join(lines)


def raw_html(item: Escalation) -> str:
    """The tool calls as the agent made them, JSON and all: for the operator who asks."""
    return tool_calls_html(item)
