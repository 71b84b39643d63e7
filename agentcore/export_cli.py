"""`agentcore export feed|escalations`: the engine database's requests or queue as CSV
or JSONL, to a file or standard output, filtered as the console's feed and queue
filter them."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from agentcore.escalation_model import EscalationState
from agentcore.export import FORMATS, FeedQuery, export_escalations, export_feed
from agentcore.models import Route, Status
from agentcore.settings import Settings


def iso_moment(text: str) -> float:
    """An ISO 8601 date or time (UTC unless it says otherwise), as epoch seconds."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date or time, e.g. 2026-12-01 or "
            "2026-12-01T09:30") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def add_export_parser(sub: Any) -> None:
    """`sub`: the `add_subparsers` result of the main parser."""
    export = sub.add_parser("export", help="the feed or the escalations as CSV or JSONL",
                            description=__doc__)
    export.add_argument("what", choices=("feed", "escalations"))
    export.add_argument("--format", choices=FORMATS, default=None,
                        help="csv or jsonl (default: from --out's suffix, else csv)")
    export.add_argument("--out", default="-", help="the file to write ('-': standard output)")
    export.add_argument("--route", choices=[str(r) for r in Route])
    export.add_argument("--intent")
    export.add_argument("--status", choices=["accepted", *(str(s) for s in Status)])
    export.add_argument("--search", help="case-insensitive, in text, answer, customer, "
                                         "intent and id")
    export.add_argument("--since", type=iso_moment, help="received at or after (ISO 8601)")
    export.add_argument("--until", type=iso_moment, help="received before (ISO 8601)")
    export.add_argument("--state", choices=[str(s) for s in EscalationState],
                        help="escalations: only those in this state")


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    return "jsonl" if Path(args.out).suffix.lower() in (".jsonl", ".ndjson") else "csv"


async def run_export(settings: Settings, args: argparse.Namespace) -> int:
    from agentcore.database import open_existing

    fmt = _format(args)
    store = open_existing(settings)
    out: IO[str]
    try:
        # Written beside the target and moved over it at the end: an export cut short
        # never leaves a half file under the name asked for.
        target = None if args.out == "-" else Path(args.out)
        partial = None if target is None else target.with_name(f".{target.name}.part")
        out = sys.stdout if partial is None else partial.open("w", encoding="utf-8",
                                                              newline="")
        try:
            if args.what == "feed":
                query = FeedQuery(args.route, args.intent, args.status, args.search,
                                  args.since, args.until)
                count = export_feed(store, query, out, fmt)  # type: ignore[arg-type]
            else:
                states = [EscalationState(args.state)] if args.state else None
                count = export_escalations(store, time.time(), states, out,
                                           fmt)  # type: ignore[arg-type]
        finally:
            if out is not sys.stdout:
                out.close()
        if partial is not None and target is not None:
            partial.replace(target)
    finally:
        store.close()
    where = "standard output" if args.out == "-" else args.out
    print(f"exported {count} {'requests' if args.what == 'feed' else 'escalations'} "
          f"as {fmt} to {where}", file=sys.stderr)
    return 0
