"""The demo request corpus: what customers write, labelled with where it should go.

The mix follows production: about three in four accepted requests are routine
questions a rule answers; the rest need the LLM (actions such as refunds and
cancellations, billing problems, several questions in one message, other
languages, prompt injections), and a few are junk the guard turns away. Order
numbers are always real orders of the requesting customer, so every answer
can be checked against the shop. A multi-intent request is labelled with the
intent of its first question.

The wordings themselves are plain data in `_phrases.py`; this module is the
logic: which family of wordings, how often, for which customer and order.
"""

from __future__ import annotations

import random
import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentcore.demo_shop import _phrases as P

_CHANNELS = (("chat", 55), ("email", 25), ("web", 20))


@dataclass(frozen=True, slots=True)
class _Family:
    intent: str
    route: str  # "rule" or "llm"
    needs: str  # "order": one of a customer's orders; "buyer": a customer with orders;
    #             "customer": any customer; "any": a customer or an anonymous visitor
    templates: tuple[str, ...]
    prefer: tuple[str, ...] = ()  # order pools drawn from first ("shipped", "billing", ...)


def _family(intent: str, route: str, needs: str, templates: str,
            prefer: tuple[str, ...] = ()) -> _Family:
    return _Family(intent, route, needs, tuple(templates.strip().split("\n")), prefer)


# -- what the rules answer --------------------------------------------------------

RULE_FAMILIES: dict[str, _Family] = {
    "order_status_number": _family("order_status", "rule", "order", P.ORDER_STATUS_NUMBER,
                                   ("shipped", "processing", "delivered")),
    "order_status_latest": _family("order_status", "rule", "buyer", P.ORDER_STATUS_LATEST),
    "shipping_info": _family("shipping_info", "rule", "any", P.SHIPPING_INFO),
    "refund_policy": _family("refund_policy", "rule", "any", P.REFUND_POLICY),
    "refund_status": _family("refund_status", "rule", "order", P.REFUND_STATUS,
                             ("refunded", "returned")),
    "password_reset": _family("password_reset", "rule", "any", P.PASSWORD_RESET),
    "account_balance": _family("account", "rule", "customer", P.ACCOUNT_BALANCE),
    "account_change": _family("account", "rule", "any", P.ACCOUNT_CHANGE),
    "payment_methods": _family("payment_methods", "rule", "any", P.PAYMENT_METHODS),
    "greeting": _family("greeting", "rule", "any", P.GREETING),
    "contact": _family("contact", "rule", "any", P.CONTACT),
}
RULE_MIX = {"order_status_number": 15, "order_status_latest": 14, "shipping_info": 11,
            "refund_policy": 10, "refund_status": 7, "password_reset": 10, "account_balance": 5,
            "account_change": 4, "payment_methods": 7, "greeting": 9, "contact": 8}

# -- what needs the LLM ----------------------------------------------------------

LLM_FAMILIES: dict[str, _Family] = {
    "refund_request": _family("refund_request", "llm", "order", P.REFUND_REQUEST,
                              ("delivered",)),
    "injection": _family("refund_request", "llm", "order", P.INJECTION, ("delivered",)),
    "cancel_order": _family("cancel_order", "llm", "order", P.CANCEL_ORDER, ("processing",)),
    "billing": _family("billing", "llm", "order", P.BILLING, ("billing",)),
    "technical": _family("technical", "llm", "any", P.TECHNICAL),
    "human_request": _family("human_request", "llm", "any", P.HUMAN_REQUEST),
    "password_send": _family("password_reset", "llm", "customer", P.PASSWORD_SEND),
    "other": _family("other", "llm", "any", P.OTHER),
    "account_llm": _family("account", "llm", "customer", P.ACCOUNT_LLM),
    "refund_status_llm": _family("refund_status", "llm", "buyer", P.REFUND_STATUS_LLM),
    "order_status_llm": _family("order_status", "llm", "order", P.ORDER_STATUS_LLM,
                                ("shipped", "processing")),
}
LLM_MIX = {"refund_request": 14, "injection": 5, "cancel_order": 11, "billing": 11,
           "technical": 10, "human_request": 8, "password_send": 6, "other": 9,
           "account_llm": 4, "refund_status_llm": 3, "order_status_llm": 4, "multi": 9,
           "non_english": 6}

# Questions combined into one message; the second follows a sentence break.
MULTI_PARTS = [RULE_FAMILIES[k] for k in ("order_status_number", "shipping_info", "refund_policy",
                                          "password_reset", "payment_methods", "account_change",
                                          "refund_status")] + [
    LLM_FAMILIES[k] for k in ("refund_request", "cancel_order", "billing", "technical")]


def _roughen(rng: random.Random, text: str) -> str:
    """What real typing adds: typos, shouting, stray spaces and punctuation."""
    if rng.random() < 0.12:
        present = [w for w in P.TYPOS if re.search(rf"\b{w}\b", text, re.IGNORECASE)]
        if present:
            word = rng.choice(present)
            text = re.sub(rf"\b{word}\b", rng.choice(P.TYPOS[word]), text, count=1,
                          flags=re.IGNORECASE)
    if rng.random() < 0.08:
        text = text.replace("'", "’")
    case = rng.random()
    if case < 0.10:
        text = text.lower()
    elif case < 0.13:
        text = text.upper()
    if rng.random() < 0.08 and " " in text:
        at = rng.choice([i for i, c in enumerate(text) if c == " "])
        text = text[:at] + rng.choice(["  ", "\n", " \t "]) + text[at + 1:]
    ending = rng.random()
    if ending < 0.08 and text.endswith("?"):
        text = text[:-1]
    elif ending < 0.14:
        text += rng.choice(["??", "!!", "!"])
    return text


@dataclass(frozen=True, slots=True)
class _Order:
    id: int
    customer_id: int
    status: str
    product: str
    category: str
    total_cents: int


@dataclass(slots=True)
class _ShopView:
    """What the corpus needs from the shop, read once."""

    customers: dict[int, dict[str, Any]] = field(default_factory=dict)
    orders_of: dict[int, list[_Order]] = field(default_factory=lambda: defaultdict(list))
    pools: dict[str, list[_Order]] = field(default_factory=lambda: defaultdict(list))
    products: list[str] = field(default_factory=list)

    @property
    def buyers(self) -> list[int]:
        return sorted(self.orders_of)


def _read_shop(path: Path) -> _ShopView:
    view = _ShopView()
    # rw, not ro: a read-only connection cannot open a WAL database whose -shm is gone,
    # and the Shop leaves the file in WAL mode. mode=rw still refuses to create a file.
    conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=rw", uri=True)
    try:
        for cid, name, language, country in conn.execute(
                "SELECT id, name, language, country FROM customers ORDER BY id"):
            view.customers[cid] = {"first": name.split()[0], "language": language,
                                   "country": country}
        for row in conn.execute(
                "SELECT o.id, o.customer_id, o.status, p.name, p.category, o.total_cents "
                "FROM orders o JOIN products p ON p.id = o.product_id ORDER BY o.id"):
            order = _Order(*row)
            view.orders_of[order.customer_id].append(order)
            view.pools[order.status].append(order)
            view.pools["any"].append(order)
        by_id = {o.id: o for o in view.pools["any"]}
        # Orders with more than one payment row: a duplicate capture or a failed try.
        for (oid,) in conn.execute("SELECT order_id FROM payments GROUP BY order_id "
                                   "HAVING COUNT(*) > 1 ORDER BY order_id"):
            if by_id[oid].status != "cancelled":
                view.pools["billing"].append(by_id[oid])
        for (oid,) in conn.execute("SELECT DISTINCT order_id FROM refunds ORDER BY order_id"):
            view.pools["refunded"].append(by_id[oid])
        view.products = [name for (name,) in conn.execute("SELECT name FROM products ORDER BY id")]
    finally:
        conn.close()
    return view


def _apportion(weights: Mapping[str, float], total: int) -> list[tuple[str, int]]:
    """Exact counts summing to `total` (largest remainder), so the mix never drifts."""
    scale = total / sum(weights.values())
    raw = {k: w * scale for k, w in weights.items()}
    counts = {k: int(v) for k, v in raw.items()}
    by_remainder = sorted(raw, key=lambda k: (counts[k] - raw[k], k))
    for k in by_remainder[: total - sum(counts.values())]:
        counts[k] += 1
    return list(counts.items())


class _Writer:
    """Fills templates for one corpus, drawing customers and orders from the shop."""

    def __init__(self, rng: random.Random, view: _ShopView) -> None:
        self.rng = rng
        self.view = view
        self._decks: dict[_Family, list[str]] = {}

    def template(self, family: _Family) -> str:
        """Dealt from a shuffled deck, so even a small family uses every wording."""
        deck = self._decks.setdefault(family, [])
        if not deck:
            deck.extend(family.templates)
            self.rng.shuffle(deck)
        return deck.pop()

    def pick_order(self, prefer: tuple[str, ...]) -> _Order:
        pools = [p for p in prefer if self.view.pools[p]]
        if pools and self.rng.random() < 0.8:
            return self.rng.choice(self.view.pools[self.rng.choice(pools)])
        return self.rng.choice(self.view.pools["any"])

    def fill(self, template: str, customer: int | None, order: _Order | None) -> str:
        rng = self.rng
        country = self.view.customers[customer]["country"] if customer else rng.choice(
            sorted(P.COUNTRY_NAMES))
        cents = order.total_cents if order else rng.randint(999, 29999)
        return template.format(
            oid=order.id if order else "", product=order.product if order else "",
            category=order.category if order else rng.choice(P.CATEGORY_WORDS),
            any_product=rng.choice(self.view.products), country=P.COUNTRY_NAMES[country],
            method=rng.choice(P.METHOD_WORDS), amount=f"${cents // 100}.{cents % 100:02d}")

    def subject(self, needs: str, prefer: tuple[str, ...]) -> tuple[int | None, _Order | None]:
        """The customer (and order) a request of a family is about."""
        rng, view = self.rng, self.view
        if needs == "order":
            order = self.pick_order(prefer)
            return order.customer_id, order
        if needs == "buyer":
            return rng.choice(view.buyers), None
        if needs == "customer":
            return rng.choice(sorted(view.customers)), None
        return (rng.choice(sorted(view.customers)) if rng.random() < 0.7 else None), None

    def request(self, family: _Family) -> dict[str, Any]:
        customer, order = self.subject(family.needs, family.prefer)
        text = self.fill(self.template(family), customer, order)
        return self.finish(text, customer, family.intent, family.route,
                           wrap=family.intent != "greeting")

    def multi(self) -> dict[str, Any]:
        """Two questions in one message: no rule may answer only half of it."""
        rng = self.rng
        first, second = rng.sample(MULTI_PARTS, 2)
        while second.intent == first.intent:
            second = rng.choice(MULTI_PARTS)
        customer = rng.choice(self.view.buyers)
        parts = []
        for family in (first, second):
            order = rng.choice(self.view.orders_of[customer])
            plain = [x for x in family.templates if not x.lower().startswith(_GREETINGS)]
            parts.append(self.fill(rng.choice(plain), customer, order))
        head = parts[0]
        if head[-1] not in ".?!":
            head += "?" if head.lower().startswith(_QUESTION_WORDS) else "."
        tail = parts[1][0].lower() + parts[1][1:]
        text = f"{head}{rng.choice(P.CONNECTORS)}{tail}"
        return self.finish(text, customer, first.intent, "llm", wrap=True)

    def foreign(self) -> dict[str, Any]:
        rng = self.rng
        language = rng.choice(sorted(P.NON_ENGLISH))
        intent, template = rng.choice(P.NON_ENGLISH[language])
        speakers = [c for c in self.view.buyers
                    if self.view.customers[c]["language"] == language] or self.view.buyers
        customer = rng.choice(speakers)
        order = rng.choice(self.view.orders_of[customer])
        return self.finish(self.fill(template, customer, order), customer, intent, "llm",
                           wrap=False)

    def finish(self, text: str, customer: int | None, intent: str | None, route: str,
               *, wrap: bool) -> dict[str, Any]:
        rng = self.rng
        channel = rng.choices([c for c, _ in _CHANNELS], [w for _, w in _CHANNELS])[0]
        if wrap and channel == "email" and rng.random() < 0.6:
            first = self.view.customers[customer]["first"] if customer else ""
            text = _email(rng, text, first)
        return {"text": _roughen(rng, text), "customer_id": customer, "channel": channel,
                "expected_intent": intent, "expected_route": route}


_GREETINGS = ("hi", "hello", "hey", "good ", "dear")
_QUESTION_WORDS = ("where", "what", "how", "when", "which", "who", "why", "can", "could", "do",
                   "does", "did", "is", "are", "has", "have", "was", "any")


def _email(rng: random.Random, body: str, first: str) -> str:
    greeting = rng.choice(P.EMAIL_GREETINGS)
    if body.lower().startswith(_GREETINGS):
        greeting = ""  # one greeting per message
    signoff = rng.choice(P.EMAIL_SIGNOFFS)
    return f"{greeting}{body}{signoff}{first}".rstrip()


def _guard_requests(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Empty, blank, huge and binary-looking input: the guard rejects all of them."""
    makers: list[Callable[[], str]] = [
        lambda: "",
        lambda: rng.choice([" ", "   ", "\n\n", "\t \n ", "\u00a0 \u2003"]),
        lambda: _huge(rng),
        lambda: rng.choice(P.BINARY_LOOKING),
    ]
    out = []
    for i in range(n):
        out.append({"text": makers[i % len(makers)](), "customer_id": rng.choice([None, 1, 2, 3]),
                    "channel": rng.choice(["chat", "web"]), "expected_intent": None,
                    "expected_route": "guard"})
    return out


def _huge(rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:  # a pasted log
        lines = [f"2026-10-31 12:{m:02d}:{s:02d} ERROR checkout: payment step failed (retry {s})"
                 for m in range(60) for s in range(0, 60, 12)]
        return "Here is what the app shows:\n" + "\n".join(lines) * 2
    if kind == 1:  # a rant that never ends
        return "I am really not happy with how this went. " * 300
    return "a" * rng.randint(10_001, 20_000)


def generate_corpus(shop_path: Path, *, n: int = 600, seed: int = 2026) -> list[dict[str, Any]]:
    """`n` labelled requests against the shop at `shop_path`, in a seeded, shuffled order."""
    rng = random.Random(seed)
    writer = _Writer(rng, _read_shop(shop_path))
    n_guard = max(4, round(n * 0.04))
    n_rule = round((n - n_guard) * 0.75)
    out: list[dict[str, Any]] = []
    for name, count in _apportion(RULE_MIX, n_rule):
        out.extend(writer.request(RULE_FAMILIES[name]) for _ in range(count))
    for name, count in _apportion(LLM_MIX, n - n_guard - n_rule):
        for _ in range(count):
            if name == "multi":
                out.append(writer.multi())
            elif name == "non_english":
                out.append(writer.foreign())
            else:
                out.append(writer.request(LLM_FAMILIES[name]))
    out.extend(_guard_requests(rng, n_guard))
    rng.shuffle(out)
    return out
