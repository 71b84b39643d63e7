"""File > Export feed… and Escalations > Export escalations…: the operator's filters
decide what goes in the file, and the window keeps answering while it is written."""

from __future__ import annotations

import csv
import json

from agentcore import Request
from console import message


def test_the_feed_export_takes_the_filters_shown(console, run_async, qtbot, tmp_path):
    window, engine = console.window, console.engine
    texts = ["what are your opening hours?", "I want to talk to a human please",
             "do you ship to Canada?"]
    for text in texts:
        run_async(engine.submit(Request(text, customer_id=7)))
    shown: list[str] = []
    unsubscribe = message.global_bridge.shown.connect(lambda level, text: shown.append(text))
    window.feed.proxy.set_filters(status="escalated")

    target = tmp_path / "escalated.jsonl"
    window.exporter.start_feed_export(target)
    qtbot.waitUntil(lambda: window.exporter.running.done(), timeout=15_000)
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["I want to talk to a human please"]
    assert any("Exported 1 requests (filtered as shown)" in t for t in shown)

    window.feed.proxy.set_filters(status="")
    everything = tmp_path / "feed.csv"
    window.exporter.start_feed_export(everything)
    qtbot.waitUntil(lambda: window.exporter.running.done(), timeout=15_000)
    with everything.open(newline="") as fh:
        assert sorted(r["text"] for r in csv.DictReader(fh)) == sorted(texts)
    message.global_bridge.shown.disconnect(unsubscribe)


def test_the_queue_export_is_the_listing_shown(console, run_async, tmp_path):
    window, engine = console.window, console.engine
    run_async(engine.submit(Request("I want to talk to a human please", customer_id=7)))
    target = tmp_path / "queue.csv"
    window.escalations.refresh()
    assert window.exporter.export_escalations(target) == 1
    with target.open(newline="") as fh:
        (row,) = csv.DictReader(fh)
    assert row["state"] == "open" and row["customer_id"] == "7"

    unwritable = tmp_path / "missing-folder" / "queue.csv"
    assert window.exporter.export_escalations(unwritable) is None
    assert not unwritable.exists()
