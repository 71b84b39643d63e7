"""File > Export feed…, Escalations > Export escalations… and File > Export audit
listing…: what the operator sees, as CSV or JSONL (agentcore.export). The feed exports
every recorded request its filters choose (the table shows only the newest); the
queue and the audit listing, the rows shown. The feed's export reads on a worker thread with a
connection of its own: a busy database of a million rows never freezes the window."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QWidget

from agentcore import (
    EscalationState,
    ExportFormat,
    FeedQuery,
    export_escalations,
    export_feed,
)
from console import message

if TYPE_CHECKING:
    from agentcore import Storage
    from console.audit_model import AuditListing
    from console.escalations_view import QueuePanel
    from console.feed import FeedFilter

WAITING_STATES = (EscalationState.OPEN, EscalationState.CLAIMED, EscalationState.HANDED_BACK)
FILTERS = "CSV (*.csv);;JSON Lines (*.jsonl)"


def format_of(path: Path) -> ExportFormat:
    return "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "csv"


def _written(path: Path, write: object) -> int:
    """Runs `write(out)` into a file beside `path`, moved over it when complete: an
    export that fails never leaves a half file under the chosen name."""
    partial = path.with_name(f".{path.name}.part")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            count = write(out)  # type: ignore[operator]
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return int(count)


class Exporter:
    """The two exports, for the window's actions; `running` is the feed export in
    flight (tests wait for it)."""

    def __init__(self, parent: QWidget, store: Storage, feed: FeedFilter,
                 queue: QueuePanel) -> None:
        self.parent, self.store, self.feed, self.queue = parent, store, feed, queue
        self.running: asyncio.Task[int | None] | None = None

    def feed_query(self) -> FeedQuery:
        f = self.feed
        return FeedQuery(route=f.route or None, intent=f.intent or None,
                         status=f.status or None, search=f.search or None)

    async def export_feed(self, path: Path) -> int | None:
        query = self.feed_query()

        def write(out: IO[str]) -> int:
            return export_feed(self.store, query, out, format_of(path))

        try:
            count = await asyncio.to_thread(_written, path, write)
        except Exception as exc:  # a full disk, a folder it may not write, the database
            message.error(f"The feed was not exported to {path}: {exc}")
            return None
        shown = "filtered as shown" if any((query.route, query.intent, query.status,
                                            query.search)) else "all of it"
        message.info(f"Exported {count:,} requests ({shown}) to {path}")
        return count

    def export_escalations(self, path: Path) -> int | None:
        resolved = self.queue.showing_resolved
        states = (EscalationState.RESOLVED,) if resolved else WAITING_STATES

        def write(out: IO[str]) -> int:
            return export_escalations(self.store, time.time(), states, out, format_of(path))

        try:  # the queue is small, and its connection is the GUI thread's
            count = _written(path, write)
        except Exception as exc:
            message.error(f"The escalations were not exported to {path}: {exc}")
            return None
        message.info(f"Exported {count:,} {'resolved' if resolved else 'waiting'} "
                     f"escalations to {path}")
        return count

    def export_audit(self, listing: AuditListing, path: Path) -> int | None:
        try:  # the rows shown, already read: nothing to wait for
            count = _written(path, lambda out: listing.export(out, format_of(path)))
        except Exception as exc:
            message.error(f"The audit listing was not exported to {path}: {exc}")
            return None
        message.info(f"Exported {count:,} audit entries (as shown) to {path}")
        return count

    def choose_audit(self, listing: AuditListing) -> None:
        self._choose("Export audit listing", "audit.csv",
                     lambda path: self.export_audit(listing, path))

    def start_feed_export(self, path: Path) -> None:
        self.running = asyncio.ensure_future(self.export_feed(path))

    def choose_feed(self) -> None:
        self._choose("Export feed", "feed.csv", self.start_feed_export)

    def choose_escalations(self) -> None:
        self._choose("Export escalations", "escalations.csv", self.export_escalations)

    def _choose(self, title: str, name: str, then: object) -> None:
        # open(), not exec(): a nested event loop would re-enter the asyncio loop.
        dialog = QFileDialog(self.parent, title, name, FILTERS)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda chosen: then(Path(chosen)))  # type: ignore[operator]
        dialog.open()
