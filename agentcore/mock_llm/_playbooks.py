"""Per-intent behaviour of the mock model, turn by turn.

Each playbook looks at which tool results are already in the conversation and
returns the next step: the tool calls still needed (independent ones together,
as a good model does), or the final answer. The playbooks are stateless: the
whole state is the conversation, exactly as for a real model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from agentcore.mock_llm import _answers as say
from agentcore.mock_llm._conversation import Conversation


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Final:
    answer: str
    confidence: float
    handoff: str | None = None


Step = list[Call] | Final
Playbook = Callable[[Conversation], Step]


def _missing(conv: Conversation, *calls: Call) -> list[Call]:
    """The calls whose results are not in the conversation yet."""
    return [c for c in calls if not conv.has(c.name)]


def _ask_order_number(topic: str) -> Final:
    return Final(f"I'd be glad to help with {topic}. Could you send me your 5-digit order "
                 "number? You'll find it in your order confirmation email.", 0.75)


def _who_is_asking() -> Final:
    return Final("I can help with that once I know it's your account: please sign in, or "
                 "write to us from the email address on your account (with the order "
                 "number, if it's about an order).", 0.8)


def _faq_query(conv: Conversation) -> str:
    return conv.user_text.strip()[:200] or conv.intent.replace("_", " ")


def _refund_request(conv: Conversation) -> Step:
    oid = conv.order_id
    if oid is None:
        return _ask_order_number("your refund")
    if conv.has("issue_refund"):
        result = conv.result("issue_refund")
        asked = conv.arguments.get("issue_refund", {}).get("amount", 0)
        amount = (say.money(result["amount_cents"]) if "amount_cents" in result
                  else say.dollars(float(asked)))
        label = say.order_label(conv.result("get_order"), oid)
        if result.get("status", "issued") != "issued":
            return Final(f"Your refund of {amount} on {label} has been submitted "
                         f"(status: {result['status']}); we'll email you once it's done.", 0.8)
        return Final(f"I've refunded {amount} on {label}. It goes back to your original "
                     "payment method and usually shows up within 5-10 business days.", 0.9)
    needed = _missing(conv, *(Call(name, {"order_id": oid})
                              for name in ("get_order", "get_payments", "get_refund_policy")))
    if needed:
        return needed
    label = say.order_label(conv.result("get_order"), oid)
    quote = conv.quote
    if quote is None:
        return Final(f"I've looked at {label}; a colleague needs to confirm how much can be "
                     "refunded and will get back to you shortly.", 0.4,
                     handoff=f"no refund quote for order {oid}")
    allowed = float(quote.get("allowed_dollars") or 0)
    # The gullible part, on purpose: a sum demanded in the customer's text wins over
    # the quote, so a prompt injection reaches the validator, which must refuse it.
    dollars = conv.demanded_dollars or allowed
    if dollars <= 0:
        why = quote.get("reason") or "the refund policy doesn't allow it"
        return Final(f"I've checked {label}, and I'm sorry, but I can't refund it: {why}.",
                     0.85)
    reason = f"customer request; policy: {quote.get('reason') or 'refund allowed'}"[:200]
    return [Call("issue_refund", {"order_id": oid, "amount": round(dollars, 2),
                                  "reason": reason})]


def _billing(conv: Conversation) -> Step:
    oid, cid = conv.order_id, conv.customer_id
    customer_call = [Call("get_customer", {"customer_id": cid})] if cid is not None else []
    if oid is None:
        needed = _missing(conv, *customer_call, Call("search_faq", {"query": _faq_query(conv)}))
        if needed:
            return needed
        hello = say.greeting(conv.result("get_customer"))
        results = conv.result("search_faq").get("results") or []
        if not results:
            return Final(f"{hello}I couldn't find your billing question in our help centre. "
                         "If it's about a specific order, please send me the 5-digit order "
                         "number.", 0.6)
        return Final(f"{hello}{results[0].get('answer', '')} If this is about a specific "
                     "order, send me its number and I'll check the payments.", 0.75)
    needed = _missing(conv, Call("get_order", {"order_id": oid}),
                      Call("get_payments", {"order_id": oid}), *customer_call)
    if needed:
        return needed
    return _billing_summary(conv, oid)


def _billing_summary(conv: Conversation, oid: int) -> Final:
    order = conv.result("get_order")
    payments = [p for p in conv.result("get_payments").get("payments") or []
                if isinstance(p, dict)]
    captured = [p for p in payments if p.get("status") == "captured"]
    failed = [p for p in payments if p.get("status") == "failed"]
    hello = say.greeting(conv.result("get_customer"))
    label = say.order_label(order, oid)
    if len(captured) >= 2:
        lines = say.join([say.payment_line(p) for p in captured])
        total = sum(int(p.get("amount_cents") or 0) for p in captured)
        return Final(
            f"{hello}You're right: I can see {len(captured)} captured payments on {label}: "
            f"{lines}, {say.money(total)} in all for an order total of "
            f"{say.money(order.get('total_cents'))}. I've flagged the duplicate for our "
            "billing team, who will reverse it.", 0.8,
            handoff=f"duplicate charge on order {oid}: a captured payment must be reversed")
    parts = [f"{hello}{say.upper_first(label)} came to {say.money(order.get('total_cents'))}."]
    if captured:
        parts.append(f"We charged {say.payment_line(captured[0])}, once.")
    if failed:
        parts.append(f"The failed attempt ({say.join([say.payment_line(p) for p in failed])}) "
                     "was never charged; your bank may show it as pending for a few days.")
    refunded = int(order.get("refunded_cents") or 0)
    if refunded:
        parts.append(f"{say.money(refunded)} of it has been refunded to you.")
    return Final(" ".join(parts), 0.85)


def _cancel_order(conv: Conversation) -> Step:
    oid = conv.order_id
    if oid is None:
        return _ask_order_number("cancelling your order")
    if conv.has("cancel_order"):
        result = conv.result("cancel_order")
        label = say.order_label(conv.result("get_order"), oid)
        if result.get("cancelled"):
            return Final(f"Done: {label} is cancelled. Any payment taken for it is released "
                         "within 3-5 business days.", 0.9)
        why = result.get("why") or f"it is {result.get('status', 'past that stage')}"
        return Final(f"I'm sorry, I couldn't cancel {label}: {why}.", 0.8)
    needed = _missing(conv, Call("get_order", {"order_id": oid}))
    if needed:
        return needed
    order = conv.result("get_order")
    status = order.get("status")
    if status == "processing":
        return [Call("cancel_order", {"order_id": oid,
                                      "reason": "customer asked to cancel before shipping"})]
    if status in ("shipped", "delivered"):
        return Final(f"{say.describe_order(order, oid)} Since it has left our warehouse I can't "
                     "cancel it anymore, but you can return it for a refund once it arrives.",
                     0.85)
    if status == "cancelled":
        return Final(f"{say.upper_first(say.order_label(order, oid))} is already cancelled; "
                     "there's nothing more to do.", 0.9)
    return Final(f"{say.describe_order(order, oid)} It can no longer be cancelled.", 0.8)


def _password_reset(conv: Conversation) -> Step:
    if conv.has("send_password_reset"):
        sent_to = say.mask_email(conv.result("send_password_reset").get("sent_to"))
        return Final(f"I've sent a password reset link to {sent_to}. It's valid for 60 "
                     "minutes; if it doesn't arrive within a few minutes, check your spam "
                     "folder.", 0.9)
    if conv.customer_id is None or "send_password_reset" not in conv.offered:
        return Final("You can reset your password yourself: choose 'Forgot password?' on the "
                     "sign-in page, enter your email address, and we'll email you a link "
                     "that's valid for 60 minutes.", 0.8)
    return [Call("send_password_reset", {"customer_id": conv.customer_id})]


def _order_status(conv: Conversation) -> Step:
    oid = conv.order_id
    if oid is None:
        return _ask_order_number("your order")
    needed = _missing(conv, Call("get_order", {"order_id": oid}))
    if needed:
        return needed
    return Final(say.describe_order(conv.result("get_order"), oid), 0.9)


def _refund_status(conv: Conversation) -> Step:
    oid = conv.order_id
    if oid is None:
        return _ask_order_number("your refund")
    needed = _missing(conv, Call("get_order", {"order_id": oid}))
    if needed:
        return needed
    order = conv.result("get_order")
    label = say.order_label(order, oid)
    refunded = int(order.get("refunded_cents") or 0)
    if refunded:
        return Final(f"A refund of {say.money(refunded)} has been issued on {label}. Refunds "
                     "take 5-10 business days to show up on your statement.", 0.9)
    return Final(f"I don't see a refund on {label} yet; the order is currently "
                 f"{order.get('status', 'open')}. If you've sent it back, the refund is "
                 "issued as soon as the return is checked in.", 0.8)


def _faq(conv: Conversation) -> Step:
    needed = _missing(conv, Call("search_faq", {"query": _faq_query(conv)}))
    if needed:
        return needed
    results = [r for r in conv.result("search_faq").get("results") or [] if isinstance(r, dict)]
    vague = conv.intent == "other"  # a real model is less sure off its usual topics
    if not results:
        return Final("I couldn't find an answer to that in our help centre, so I've passed "
                     "your question to a colleague.", 0.3 if vague else 0.45)
    top = results[0]
    answer = str(top.get("answer") or f"Our help centre covers this under {top.get('question')!r}.")
    return Final(answer, 0.55 if vague else 0.8)


def _human_request(conv: Conversation) -> Step:
    return Final("Of course. I'm handing you over to a member of our support team; they'll "
                 "reply here shortly.", 0.95, handoff="customer asked for a human")


def _greeting(conv: Conversation) -> Step:
    return Final("Hello! How can I help you today? If it's about an order, please include "
                 "your 5-digit order number.", 0.9)


PLAYBOOKS: dict[str, Playbook] = {
    "refund_request": _refund_request,
    "billing": _billing,
    "cancel_order": _cancel_order,
    "password_reset": _password_reset,
    "order_status": _order_status,
    "refund_status": _refund_status,
    "human_request": _human_request,
    "greeting": _greeting,
}  # every other intent (technical, shipping_info, account, ...) answers from the FAQ


def next_step(conv: Conversation) -> Step:
    """The mock model's next move, limited to the tools the request offers."""
    if conv.errors:
        tool, error = conv.errors[-1]
        final = Final(f"I'm sorry, something went wrong while I was checking that ({error}). "
                      "A colleague will pick up your request and get back to you.", 0.3,
                      handoff=f"{tool} failed: {error}")
    else:
        step = PLAYBOOKS.get(conv.intent, _faq)(conv)
        if not isinstance(step, Final):
            calls = [c for c in step if c.name in conv.offered]
            if calls:
                return calls
            if conv.customer_id is None:  # as the prompt says: nobody's records for nobody
                return _who_is_asking()
            names = ", ".join(c.name for c in step)
            step = Final("I'm sorry, I can't look that up right now; a colleague will follow "
                         "up with you shortly.", 0.3, handoff=f"tools not available: {names}")
        final = step
    if conv.note:
        # An operator's note is context a human vouched for: more sure, and said so.
        final = replace(final, answer=say.with_note(final.answer, conv.note),
                        confidence=min(0.95, round(final.confidence + 0.1, 2)))
    return final
