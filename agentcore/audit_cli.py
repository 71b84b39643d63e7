"""`agentcore audit`: who did what on the engine database, newest first: claims,
releases, replies, approvals, denials, hand-backs, rule and learned-tier versions,
saved-reply edits, each with its operator and time."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from agentcore.export import audit_row
from agentcore.export_cli import iso_moment
from agentcore.settings import Settings
from agentcore.storage import AUDIT_KINDS, AuditEntry


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number of entries, "
                                         "e.g. 100") from None
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"{value}: from 1 to 1,000,000 entries")
    return value


def add_audit_parser(sub: Any) -> None:
    """`sub`: the `add_subparsers` result of the main parser."""
    audit = sub.add_parser("audit", help="who did what: every operator action, newest first",
                           description=__doc__)
    audit.add_argument("--operator", help="only this operator's actions")
    audit.add_argument("--kind", choices=AUDIT_KINDS, help="only this kind of action")
    audit.add_argument("--since", type=iso_moment, help="at or after (ISO 8601, UTC unless "
                                                     "it says otherwise)")
    audit.add_argument("--until", type=iso_moment, help="before (ISO 8601)")
    audit.add_argument("--limit", type=_limit, default=1000,
                       help="at most this many, the newest (default 1000)")
    audit.add_argument("--json", action="store_true", help="one JSON object a line")


def _line(entry: AuditEntry) -> str:
    when = datetime.fromtimestamp(entry.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    detail = " ".join(entry.detail.split())  # a reply's line breaks would break the table
    return f"{when}  {entry.operator:<16} {entry.kind:<11} {entry.item:<24} {detail}"


async def run_audit(settings: Settings, args: argparse.Namespace) -> int:
    from agentcore.database import open_existing

    store = open_existing(settings)
    try:
        entries = store.audit.entries(
            args.since, args.until,
            operator=args.operator.strip() if args.operator else None, kind=args.kind,
            limit=args.limit)
    finally:
        store.close()
    for entry in entries:
        print(json.dumps(audit_row(entry), ensure_ascii=False) if args.json else _line(entry))
    if not entries and not args.json:
        print("no actions recorded" + (" that match" if any(
            (args.operator, args.kind, args.since, args.until)) else ""), file=sys.stderr)
    return 0
