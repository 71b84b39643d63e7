"""Check data/dev/requests.jsonl and print its mix (the tables in README.md).

Run with plain python3 from the repository root:

    python3 data/dev/describe.py [--facts PATH]

Every line is checked for the fields and values README.md describes, that
`orders` are exactly the five-digit numbers in the text, in order, that
`expected_intent` is the first intent and that `kind` agrees with the other
fields. With `--facts` (the shop facts the set was written from: "### customer"
headings followed by "- order N:" lines) it also checks that every customer
exists and that `foreign_order` rows, and only those, name an order that is not
the writer's. It never looks at rules, prompts or the router: this set only
measures.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).with_name("requests.jsonl")
INTENTS = frozenset(
    [
        "order_status",
        "shipping_info",
        "refund_policy",
        "refund_status",
        "refund_request",
        "cancel_order",
        "billing",
        "password_reset",
        "account",
        "payment_methods",
        "technical",
        "human_request",
        "greeting",
        "contact",
        "other",
    ]
)
KINDS = frozenset(["single", "two_asks", "several_orders", "anonymous", "foreign_order", "vague"])
CHANNELS = frozenset({"chat", "email", "web"})
LANGUAGES = frozenset({"en", "de", "fr", "es", "nl", "it", "pt", "pl"})
# Intents that only make sense about one particular order: without a number they are vague.
NEEDS_ORDER = frozenset({"order_status", "refund_status", "refund_request", "cancel_order"})
FIELDS = {
    "text",
    "customer_id",
    "channel",
    "language",
    "intents",
    "orders",
    "kind",
    "expected_intent",
}
ORDER_NUMBER = re.compile(r"(?<!\d)\d{5}(?!\d)")


def load_owners(facts: Path) -> dict[int, int | None]:
    """Map order id -> customer id; customers with no orders map from -customer_id to None."""
    owners: dict[int, int | None] = {}
    customer: int | None = None
    for line in facts.read_text(encoding="utf-8").splitlines():
        if heading := re.match(r"### customer (\d+):", line):
            customer = int(heading.group(1))
            owners[-customer] = None
        elif (order := re.match(r"- order (\d+):", line)) and customer is not None:
            owners[int(order.group(1))] = customer
    return owners


def problems(row: dict[str, Any], owners: dict[int, int | None] | None) -> list[str]:
    """Everything wrong with one row, as short sentences (empty when the row is fine)."""
    found: list[str] = []
    if set(row) != FIELDS:
        return [f"fields are {sorted(row)}"]
    customer, kind, orders, intents = row["customer_id"], row["kind"], row["orders"], row["intents"]
    if not isinstance(row["text"], str) or not row["text"].strip():
        found.append("empty text")
    if row["channel"] not in CHANNELS:
        found.append(f"channel {row['channel']!r}")
    if row["language"] not in LANGUAGES:
        found.append(f"language {row['language']!r}")
    if not intents or not set(intents) <= INTENTS or len(set(intents)) != len(intents):
        found.append(f"intents {intents}")
    elif row["expected_intent"] != intents[0]:
        found.append("expected_intent is not the first intent")
    if kind not in KINDS:
        found.append(f"kind {kind!r}")
    if orders != [int(n) for n in ORDER_NUMBER.findall(row["text"])]:
        found.append(f"orders {orders} are not the numbers in the text")
    if (customer is None) != (kind == "anonymous"):
        found.append("kind 'anonymous' iff customer_id is null")
    if found or kind == "anonymous":
        return found
    if owners is not None:
        if -customer not in owners:
            found.append(f"customer {customer} is not in the facts")
        foreign = any(owners.get(order) != customer for order in orders)
        if foreign != (kind == "foreign_order"):
            found.append("kind 'foreign_order' iff an order is not the writer's")
    if kind == "foreign_order":
        return found
    if (len(intents) > 1) != (kind == "two_asks"):
        found.append("kind 'two_asks' iff more than one intent")
    elif kind != "two_asks":
        if (len(orders) > 1) != (kind == "several_orders"):
            found.append("kind 'several_orders' iff one intent and several orders")
        needs_number = intents[0] in NEEDS_ORDER and not orders
        if needs_number != (kind == "vague"):
            found.append("kind 'vague' iff an order is needed and none is named")
    return found


def table(title: str, counts: Counter[str], total: int) -> str:
    lines = [f"| {title} | rows | share |", "|---|---:|---:|"]
    lines += [f"| {key} | {n} | {n / total:.0%} |" for key, n in counts.most_common()]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--facts", type=Path, help="shop facts file, for ownership checks")
    args = parser.parse_args()
    owners = load_owners(args.facts) if args.facts else None

    rows = []
    failures = 0
    texts: set[str] = set()
    for number, line in enumerate(args.path.read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(line)
        found = problems(row, owners)
        if row.get("text") in texts:
            found.append("duplicate text")
        texts.add(row.get("text"))
        for problem in found:
            failures += 1
            print(f"line {number}: {problem}", file=sys.stderr)
        rows.append(row)

    total = len(rows)
    print(f"{total} rows\n")
    print(table("kind", Counter(r["kind"] for r in rows), total), end="\n\n")
    print(table("language", Counter(r["language"] for r in rows), total), end="\n\n")
    print(table("channel", Counter(r["channel"] for r in rows), total), end="\n\n")
    print(table("first intent", Counter(r["expected_intent"] for r in rows), total), end="\n\n")
    print(table("any intent", Counter(i for r in rows for i in r["intents"]), total))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
