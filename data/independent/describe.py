"""Print the mix of the independent evaluation set as Markdown tables.

Run: python3 data/independent/describe.py [path/to/requests.jsonl]

It only counts rows (by kind, language, channel and intent); it never routes
them, so running it tells nothing about how the rules do on the set.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

DEFAULT_PATH = Path(__file__).with_name("requests.jsonl")


def load(path: Path) -> list[dict[str, object]]:
    """Every row of the set, in file order."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def table(title: str, counts: Counter[str], total: int, unit: str = "rows") -> str:
    """One Markdown table of counts, largest first, with each share of `total` rows."""
    rows = [f"| {title} | {unit} | share of rows |", "|---|---:|---:|"]
    for name, count in counts.most_common():
        rows.append(f"| {name} | {count} | {100 * count / total:.1f} % |")
    return "\n".join(rows)


def describe(rows: list[dict[str, object]]) -> str:
    """The mix tables for `rows`, separated by blank lines."""
    total = len(rows)

    def count(field: str) -> Counter[str]:
        return Counter(str(row[field]) for row in rows)

    # A row with two asks counts once under each intent it asks for.
    every_intent: Counter[str] = Counter()
    for row in rows:
        intents = row["intents"]
        assert isinstance(intents, list)
        every_intent.update(str(intent) for intent in intents)
    signed_in = sum(1 for row in rows if row["customer_id"] is not None)
    with_orders = sum(1 for row in rows if row["orders"])
    parts = [
        f"{total} requests; {signed_in} from signed-in customers, "
        f"{total - signed_in} anonymous; {with_orders} name at least one order.",
        table("kind", count("kind"), total),
        table("language", count("language"), total),
        table("channel", count("channel"), total),
        table("expected_intent (first ask)", count("expected_intent"), total),
        table("intent (every ask)", every_intent, total, unit="rows asking it"),
    ]
    return "\n\n".join(parts)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PATH
    print(describe(load(path)))


if __name__ == "__main__":
    main()
