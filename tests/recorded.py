"""Recorded traffic for rule-tuning tests: the sample corpus replayed once per session
through a real engine (the mock LLM on the slow path), its database copied per test."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path

from agentcore import Engine, Settings
from agentcore.replay import load_corpus, replay

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "data" / "requests.jsonl"


def record_corpus(settings: Settings) -> Path:
    """Replays the corpus into `settings`' engine database; returns its path."""

    async def run() -> None:
        engine = Engine(settings)
        try:
            await replay(engine, load_corpus(CORPUS), concurrency=32, progress=False)
        finally:
            await engine.close()

    # On a thread of its own: the caller may be inside a running loop (the console tests').
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # re-raised below, on the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return settings.engine_db


class RecordedCorpus:
    """The corpus recorded once, and again after the local day changed: a session that
    runs across midnight would otherwise test "hits today" on yesterday's traffic."""

    def __init__(self, new_settings: Callable[[], Settings]) -> None:
        self._new_settings = new_settings
        self._path: Path | None = None
        self._day: date | None = None

    def today(self) -> Path:
        if self._path is None or self._day != date.today():
            self._day = date.today()
            self._path = record_corpus(self._new_settings())
        return self._path


def install_recorded(template: Path, settings: Settings) -> None:
    """Copies a recorded database (and any WAL left beside it) into `settings`' folder."""
    settings.engine_db.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        source = template.with_name(template.name + suffix)
        if source.exists():
            shutil.copy(source, settings.engine_db.with_name(settings.engine_db.name + suffix))
