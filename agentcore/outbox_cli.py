"""`agentcore outbox list|retry`: the deliveries the intake owes other servers.

`list` shows what is owed: pending ones (still tried, with their attempts and
last error) and dead ones (given up on: a receiver's permanent refusal, or still
failing after `intake.give_up_after_s`), newest first. `retry ID` (a delivery id
or its key, e.g. `outcome:<request id>`) makes a dead delivery owed again, due
now, under the same delivery id (the receiver still dedupes by it); `retry
--all-dead` revives every dead one. A running `agentcore serve` on the same
database sends them within a second or so.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from agentcore.settings import Settings

if TYPE_CHECKING:
    from agentcore.storage import OutboxEntry

STATES = ("pending", "dead", "delivered")


def add_outbox_parser(sub: Any) -> None:
    """`sub`: the `add_subparsers` result of the main parser."""
    outbox = sub.add_parser("outbox", help="list the deliveries owed (callbacks, help-desk "
                                           "posts), retry dead ones",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = outbox.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="pending and dead deliveries, newest first")
    listing.add_argument("--state", choices=(*STATES, "all"), action="append",
                         help="only these (repeatable; default: pending and dead)")
    listing.add_argument("--limit", type=int, default=100, help="at most this many of each")
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    retry = actions.add_parser("retry", help="send a dead delivery again (same id)")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", help="a delivery id, or its key")
    which.add_argument("--all-dead", action="store_true", help="every dead delivery")


def _line(entry: OutboxEntry, now: float) -> str:
    age = now - entry.created_at
    error = f"  {entry.last_error}" if entry.last_error else ""
    return (f"{entry.id}  {entry.state:<9} {entry.kind:<16} {entry.key}  "
            f"attempts={entry.attempts} age={age:.0f}s{error}")


async def run_outbox(settings: Settings, args: argparse.Namespace) -> int:
    from agentcore.database import open_existing

    store = open_existing(settings)
    try:
        outbox = store.outbox
        now = time.time()
        if args.action == "list":
            states = args.state or ["pending", "dead"]
            if "all" in states:
                states = list(STATES)
            entries = [e for state in dict.fromkeys(states)
                       for e in outbox.entries(state, args.limit)]
            for entry in entries:
                print(json.dumps(asdict(entry)) if args.json else _line(entry, now))
            counts = outbox.counts()
            print(f"{counts['pending']} pending, {counts['dead']} dead", file=sys.stderr)
            return 0
        if args.all_dead:
            revived = outbox.revive_dead(now)
            print(f"{revived} dead deliveries owed again", file=sys.stderr)
            return 0
        found = outbox.entry(args.id)
        if found is None:
            print(f"error: no delivery {args.id!r} (an id or a key: `agentcore outbox list`)",
                  file=sys.stderr)
            return 2
        if not outbox.revive(found.id, now):
            print(f"error: delivery {found.id} is {found.state}, not dead: nothing to retry",
                  file=sys.stderr)
            return 1
        print(f"delivery {found.id} ({found.key}) owed again", file=sys.stderr)
        return 0
    finally:
        store.close()
