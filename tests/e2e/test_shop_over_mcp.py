"""The demo with its tools over MCP (issue 15, item 5): a slice of the demo corpus
replayed with the shop's tools in process and with them from the shop's MCP server
(a stdio subprocess the engine starts) gives the same answers by the same routes, and
the same writes: none past the shop's policy."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agentcore.demo_shop.mcp import ShopOverMcp
from agentcore.engine import Engine
from agentcore.replay import load_corpus, replay
from agentcore.settings import Settings

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "data" / "requests.jsonl"
ROWS = 120  # the corpus's first rows: every route, refunds and LLM turns among them


def fresh_settings(tmp_path: Path, shop_template: Path, name: str) -> Settings:
    data = tmp_path / name
    data.mkdir()
    shutil.copy(shop_template, data / "shop.sqlite")
    settings = Settings(data_dir=data)
    settings.guard.rate_per_minute = 1_000_000  # every row answered, none throttled
    settings.guard.anonymous_rate_per_minute = 1_000_000
    return settings


async def replayed(settings: Settings, rows: list[dict]) -> tuple[list, list[str]]:
    engine = Engine(settings)
    try:
        await engine.start()
        sources = sorted({t.source for t in engine.tool_servers.catalog() if t.offered})
        # One at a time: a write's effect on a later answer lands in the same order.
        outcomes, _ = await replay(engine, rows, concurrency=1, progress=False)
    finally:
        await engine.close()
    return outcomes, sources


def writes_of(shop_path: Path) -> list[tuple]:
    """What each write did (request ids differ between runs: they are fresh)."""
    with sqlite3.connect(shop_path) as conn:
        return sorted(conn.execute("SELECT tool, arguments, result FROM tool_actions"))


def overpaid_orders(shop_path: Path) -> list[int]:
    """Orders refunded more than their captured payments: a write past policy."""
    with sqlite3.connect(shop_path) as conn:
        return [r[0] for r in conn.execute(
            "SELECT o.id FROM orders o WHERE (SELECT COALESCE(SUM(amount_cents), 0) FROM "
            "refunds r WHERE r.order_id = o.id) > (SELECT COALESCE(SUM(amount_cents), 0) "
            "FROM payments p WHERE p.order_id = o.id AND p.status IN ('captured', "
            "'refunded'))")]


async def test_the_corpus_answers_the_same_with_the_shop_over_mcp(tmp_path, shop_template):
    rows = load_corpus(CORPUS)[:ROWS]
    local_settings = fresh_settings(tmp_path, shop_template, "local")
    local, local_sources = await replayed(local_settings, rows)
    remote_settings = fresh_settings(tmp_path, shop_template, "remote")
    with ShopOverMcp(remote_settings, "stdio") as settings:
        remote, remote_sources = await replayed(settings, rows)

    assert local_sources == ["domain"]
    assert remote_sources == ["shop"]  # every tool the LLM is offered came over MCP
    assert len(local) == len(remote) == ROWS
    differ = [(a.request.text, a.route, b.route, a.answer, b.answer)
              for a, b in zip(local, remote, strict=True)
              if (a.answer, a.route, a.status) != (b.answer, b.route, b.status)]
    assert differ == []
    assert sum(o.route == "llm" for o in remote) >= 10, "the slice must exercise the tools"
    # The same writes, acted by the server's process on its own connection.
    remote_writes = writes_of(settings.shop_path)
    assert remote_writes == writes_of(local_settings.shop_path)
    assert remote_writes, "the slice must write"
    assert overpaid_orders(settings.shop_path) == []


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_the_replay_cli_runs_the_demo_with_its_tools_over_mcp(tmp_path, shop_template,
                                                               transport):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(shop_template, data / "shop.sqlite")
    corpus = tmp_path / "slice.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in load_corpus(CORPUS)[:30]))
    result = subprocess.run(
        [sys.executable, "-m", "agentcore", "--data-dir", str(data), "-v", "replay",
         str(corpus), "--quiet", "--shop-over-mcp", transport],
        capture_output=True, text=True, cwd=REPO, timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replayed 30 of 30 requests" in result.stdout
    assert "the demo shop's tools over MCP (" + transport in result.stderr
