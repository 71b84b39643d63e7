"""Garbage holding Qt objects is collected on the GUI thread only, never on the storage
writer's or the HTTP client's: a widget deleted off the GUI thread crashes the
console later, in an unrelated event."""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject

from console.app import GuiThreadCollector


class Cycle:
    """A QObject kept only by a reference cycle: only the collector frees it."""

    def __init__(self, deleted_on: list[int]) -> None:
        self.me = self
        self.qobject = QObject()
        self.deleted_on = deleted_on

    def __del__(self) -> None:  # the thread that runs this one deletes the QObject too
        self.deleted_on.append(threading.get_ident())


def allocate_a_lot(kept: list[list[int]]) -> None:
    kept.extend([] for _ in range(200_000))  # far past every generation's threshold


def test_a_cycle_with_a_qt_object_is_freed_on_the_gui_thread_not_a_worker(qapp):
    deleted_on: list[int] = []
    gc.enable()  # the conftest turns it off for GUI tests: start from the app's state
    collector = GuiThreadCollector(interval_ms=60_000)
    try:
        Cycle(deleted_on)
        kept: list[list[int]] = []
        worker = threading.Thread(target=allocate_a_lot, args=(kept,))
        worker.start()
        worker.join()
        assert deleted_on == []  # the worker allocated past the thresholds and freed nothing

        for _ in range(200):  # the timer's ticks: each collects what is due
            collector.collect()
            if deleted_on:
                break
        assert deleted_on == [threading.get_ident()]
    finally:
        collector.stop()
    assert gc.isenabled()  # stopping hands collection back to Python
    gc.disable()
