"""Regenerates data/requests.jsonl, the committed demo corpus: `python data/generate.py`.

The corpus quotes real order numbers, so it is generated against a shop built
from the same seed; that shop goes to a temporary folder unless --shop names
a path to keep (data/shop.sqlite is git-ignored).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from agentcore.demo_shop.corpusgen import generate_corpus
from agentcore.demo_shop.shopgen import generate_shop

HERE = Path(__file__).resolve().parent


def write_corpus(shop: Path, out: Path, *, n: int, seed: int) -> list[dict[str, Any]]:
    generate_shop(shop, seed=seed)
    corpus = generate_corpus(shop, n=n, seed=seed)
    # ensure_ascii=False keeps accents readable; json still escapes control characters,
    # so the binary-looking requests round-trip.
    lines = [json.dumps(r, ensure_ascii=False) for r in corpus]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shop", type=Path, help="keep the generated shop at this path")
    parser.add_argument("--out", type=Path, default=HERE / "requests.jsonl")
    parser.add_argument("-n", type=int, default=600, help="number of requests")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shop = args.shop or Path(tmp) / "shop.sqlite"
        corpus = write_corpus(shop, args.out, n=args.n, seed=args.seed)
    routes = Counter(r["expected_route"] for r in corpus)
    print(f"wrote {len(corpus)} requests to {args.out}: "
          + ", ".join(f"{k} {v}" for k, v in sorted(routes.items())))


if __name__ == "__main__":
    main()
