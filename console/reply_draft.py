"""The reply an escalation opens with: written from what the operator can see (who
wrote, the order at issue, the pending write and how it stands), so it is a
start on the answer, never the agent's canned "passed to a colleague" (the
operator IS the colleague). Qt-free, tested headless.

`placeholders` is what a saved reply's `{customer_name}`, `{order_id}`... fill with.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from agentcore import Escalation, PendingStatus, WriteLimits
from console.escalation_format import done_cents, money, past_tense

# The agent's handoff lines: true of the agent, not of the operator now answering.
_DEFLECTION = re.compile(r"colleague|hand(ing)? (you )?over|passed (it |this |you )?(on|to)|"
                         r"a human (will|agent)|someone (will|from)", re.IGNORECASE)


def placeholders(item: Escalation, operator: str) -> dict[str, str]:
    """Values for a saved reply's placeholders; an unknown one stays as typed."""
    customer = item.customer
    name = (customer.name if customer is not None else None) or ""
    target = _target(item)
    values = {"customer_name": name or "there", "first_name": name.split(" ")[0] or "there",
              "order_id": target.removeprefix("order #") if target.startswith("order #")
              else target, "operator": operator, "escalation_id": str(item.id)}
    status = item.pending_status
    if status is PendingStatus.DENIED or status is PendingStatus.FAILED:
        # Nothing was done: "{amount}" stays as typed, never "I've refunded $49.99".
        return values
    amount = _amount(item)
    return values | {"amount": money(amount / 100) if amount is not None else ""}


def _target(item: Escalation) -> str:
    """"order #1042": what the pending write (else the agent's lookups) is about."""
    sources: list[dict[str, Any]] = []
    if item.pending_action is not None:
        sources.append(item.pending_action.arguments)
    sources += [call.arguments or {} for call in item.tool_results]
    for arguments in sources:
        for key, value in arguments.items():
            if key.endswith("_id") and key != "customer_id":
                return f"{key.removesuffix('_id').replace('_', ' ')} #{value}"
    return ""


def _amount(item: Escalation, verb: str | None = None) -> int | None:
    """The pending write's amount in cents: as done once approved, else as proposed."""
    done = (item.pending_result or {}).get("result") or {}
    cents = done_cents(done, verb)
    if item.pending_status is PendingStatus.APPROVED and cents is not None:
        return cents
    pending = item.pending_action
    try:
        return round(float(pending.arguments["amount"]) * 100) if pending else None
    except (KeyError, TypeError, ValueError):
        return None


def _quoted(item: Escalation) -> str:
    """What the engine's facts allow ("a refund of up to $24.00 for order #1042"), in
    words for the customer; "" when they allow nothing or there are none."""
    for fact in item.tool_results.facts:
        allowed = fact.data.get("allowed_cents")
        if isinstance(allowed, int) and allowed > 0:
            what = fact.kind.removesuffix("_quote").replace("_", " ")
            entity = next((f"{k.removesuffix('_id').replace('_', ' ')} #{v}"
                           for k, v in fact.data.items() if k.endswith("_id")), "")
            return (f"I've checked {entity or 'your request'}: I can offer a {what} of "
                    f"{money(allowed / 100)}.")
    return ""


def draft_reply(item: Escalation, operator: str, verb: str | None = "refund") -> str:
    """`verb`: what the pending write does with money (the domain's word), None when it
    is not about money."""
    values = placeholders(item, operator)
    greeting = f"Hi {values['first_name']},"
    target, amount = _target(item), _amount(item, verb)
    status = item.pending_status
    body: str
    if item.pending_action is not None and verb is not None and amount is not None:
        what = f"{money(amount / 100)}" + (f" for {target}" if target else "")
        if status is PendingStatus.APPROVED:
            body = (f"I've {past_tense(verb)} {what}."
                    + (" It will show on your original payment method within 5-10 "
                       "business days." if verb == "refund" else ""))
        elif status is PendingStatus.DENIED:
            why = (item.pending_result or {}).get("reason") or "our policy does not allow it"
            body = (f"I've looked at your request{' about ' + target if target else ''}, and "
                    f"I'm sorry: I can't {verb} it this time ({why}).")
        elif amount <= 0:  # the policy allows nothing: say why, not "$0.00"
            why = (item.pending_action.allowed or {}).get("reason")
            body = (f"I've checked {target or 'your request'}, and I'm sorry: I can't "
                    f"{verb} it" + (f" ({why})." if why else "."))
        else:
            body = f"I've checked {target or 'your request'}, and I can {verb} " + (
                f"{money(amount / 100)}.")
            if status is not None and status.undecided:
                body += " I'm confirming it now and will write as soon as it is done."
    elif item.pending_action is not None:
        action = item.pending_action.tool.replace("_", " ")
        done = status is PendingStatus.APPROVED
        body = (f"I've taken care of it: {action}" + (f" on {target}" if target else "") + "."
                if done else f"I'm looking at your request ({action}"
                + (f" on {target}" if target else "") + ") now.")
    elif item.draft_answer and not _DEFLECTION.search(item.draft_answer):
        body = item.draft_answer.strip()
    elif quoted := _quoted(item):  # cut short after the quote: what the policy allows
        body = quoted
    else:
        about = f" about {target}" if target else ""
        body = (f"this is {operator} from the support team. I've read your message{about} "
                "and I'm taking care of it personally.")
        return f"Hi {values['first_name']}, {body}\n\nBest regards,\n{operator}"
    return f"{greeting}\n\n{body}\n\nBest regards,\n{operator}"


def drafter(operator: Callable[[], str],
            limits_for: Callable[[str, dict[str, Any]], WriteLimits | None],
            ) -> Callable[[Escalation], str]:
    """The `draft` a `ClaimSession` takes: the operator's name read at each use (the
    settings may change it), the verb from the domain's limits of the pending write."""
    def draft(item: Escalation) -> str:
        pending = item.pending_action
        limits = limits_for(pending.tool, pending.arguments) if pending is not None else None
        verb = limits.verb if limits is not None else None
        if verb is None and pending is not None and _amount(item) is not None and (
                pending.tool.startswith("issue_")):
            verb = pending.tool.removeprefix("issue_")  # a refund fully settled: no limits
        return draft_reply(item, operator(), verb)

    return draft
