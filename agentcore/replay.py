"""Replays a JSONL corpus through an engine at a set rate and concurrency."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentcore.engine import Engine
from agentcore.metrics import Metrics
from agentcore.models import Outcome, Request
from agentcore.pacer import Pacer

log = logging.getLogger("agentcore.replay")


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line of a corpus that is not a request: reported with its reason and skipped."""

    number: int  # from 1, blank lines counted, as an editor shows it
    reason: str


@dataclass(frozen=True, slots=True)
class Corpus:
    path: Path
    rows: list[dict[str, Any]]
    bad_lines: list[BadLine]

    def reports(self) -> list[str]:
        """One line per bad line, in the `file:line: reason` form editors jump to."""
        return [f"{self.path}:{bad.number}: {bad.reason}" for bad in self.bad_lines]


def read_corpus(path: Path, limit: int | None = None) -> Corpus:
    """The requests of a JSONL file, one object a line (blank lines ignored), and the
    lines that are not one; `limit` stops reading after that many requests.

    Only the line's shape is checked here: a text that is not a string or a customer
    id that is not one is left to the guard, which turns it away with a reason and
    records it, as it would the same request arriving live; a replay exists to show
    what the agent does with its traffic, bad traffic included."""
    rows: list[dict[str, Any]] = []
    bad_lines: list[BadLine] = []
    with path.open("rb") as fh:  # bytes: one line that is not UTF-8 spoils only itself
        for number, raw in enumerate(fh, 1):
            if limit is not None and len(rows) >= limit:
                break
            parsed = _parse_line(raw, first=number == 1)
            if isinstance(parsed, str):
                bad_lines.append(BadLine(number, parsed))
            elif parsed is not None:
                rows.append(parsed)
    return Corpus(path, rows, bad_lines)


def load_corpus(path: Path) -> list[dict[str, Any]]:
    """The requests of a corpus for the console and the bench: bad lines are logged
    and skipped (the CLI reports them itself, through `read_corpus`)."""
    corpus = read_corpus(path)
    for report in corpus.reports():
        log.warning("%s; skipped", report)
    return corpus.rows


def _parse_line(raw: bytes, *, first: bool) -> dict[str, Any] | str | None:
    """The request on one line, None for a blank line, or why the line is not one."""
    try:
        line = raw.decode("utf-8-sig" if first else "utf-8")  # an editor's BOM is no error
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte {exc.start + 1})"
    line = line.rstrip("\r\n")  # or a line cut short is "wrong at column 1" (of the next)
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg} at column {exc.colno})"
    except ValueError:  # an integer of more digits than Python converts (CVE-2020-10735)
        return "not JSON this program can read (a number with too many digits)"
    except RecursionError:
        return "not JSON this program can read (nested too deeply)"
    if not isinstance(row, dict):
        return f"not a JSON object ({_json_kind(row)})"
    channel = row.get("channel", "chat")
    if not isinstance(channel, str):  # the guard does not judge it; later stages take it as text
        return f"channel is not a string ({_json_kind(channel)})"
    return row


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    kinds: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}
    return kinds.get(type(value), "a number")


def to_request(row: dict[str, Any]) -> Request:
    return Request(text=row.get("text", ""), customer_id=row.get("customer_id"),
                   channel=row.get("channel", "chat"))


async def replay(engine: Engine, rows: Iterable[dict[str, Any]], *, rate: float = 0.0,
                 concurrency: int = 8, progress: bool = True) -> tuple[list[Outcome], Metrics]:
    """Submits every row once, in order; `rate` requests per second (0: as fast as
    `concurrency` allows). Paced by the same `Pacer` as the console's demo traffic.

    The first request the engine raises on (it does only when the disk fails) stops
    new submissions; the ones in flight finish, then it is raised."""
    from tqdm import tqdm  # the command line's progress bar: not loaded by the console

    rows = list(rows)
    metrics = Metrics()
    unsubscribe = engine.subscribe(metrics)
    bar = tqdm(total=len(rows), unit="req", disable=not progress, dynamic_ncols=True)
    outcomes: list[Outcome | None] = [None] * len(rows)

    def done(index: int, outcome: Outcome) -> None:
        outcomes[index] = outcome
        bar.update()

    pacer: Pacer[dict[str, Any], Outcome] = Pacer(
        rows, lambda row: engine.submit(to_request(row)), rate=rate, concurrency=concurrency,
        laps=1, on_result=done, on_error=lambda _exc: pacer.pause())
    try:
        pacer.start()
        await pacer.wait()
    finally:
        await pacer.stop()  # cancelled (Ctrl+C): what was accepted still finishes
        bar.close()
        unsubscribe()
    if pacer.error is not None:
        raise pacer.error
    return [o for o in outcomes if o is not None], metrics
