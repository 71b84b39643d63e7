"""The whole program: the CLI replays the corpus against the mock LLM served on a
loopback port by its own process, through the real openai client."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.keyring_backend import FileKeyring

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "data" / "requests.jsonl"


@pytest.fixture
def mock_llm_url():
    proc = subprocess.Popen([sys.executable, "-m", "agentcore.mock_llm", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read()
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)


def child_env(tmp_path: Path) -> dict[str, str]:
    """The child's keyring: a file backend in the test's folder, holding a key."""
    backend = FileKeyring(tmp_path / "keyring.json")
    backend.set_password("agent-console", "default", "sk-test-not-a-real-key")
    return dict(os.environ, XDG_DATA_HOME=str(tmp_path / "xdg"), **backend.child_env())


def test_replay_of_the_corpus_accounts_for_every_request(tmp_path, mock_llm_url):
    data_dir = tmp_path / "data"
    result = subprocess.run(
        [sys.executable, "-m", "agentcore", "--data-dir", str(data_dir), "--base-url",
         mock_llm_url, "replay", str(CORPUS), "--concurrency", "16"],
        capture_output=True, text=True, cwd=REPO, env=child_env(tmp_path), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    corpus = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()
              if line.strip()]
    out = result.stdout
    assert f"replayed {len(corpus)} of {len(corpus)} requests" in out
    assert mock_llm_url in out
    for heading in ("route", "p50 ms", "p95 ms", "p99 ms", "cost $"):
        assert heading in out
    with sqlite3.connect(data_dir / "agent.sqlite") as conn:
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM requests GROUP BY status"))
        routes = dict(conn.execute("SELECT route, COUNT(*) FROM outcomes GROUP BY route"))
        outcomes = conn.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0]
    assert sum(statuses.values()) == len(corpus) == outcomes
    assert "accepted" not in statuses, "a request was left without an outcome"
    # The fast path carries most traffic; the LLM the rest; garbage is turned away.
    assert routes["rule"] > routes["llm"] > 0 and routes["guard"] > 0
    assert statuses["answered"] > statuses.get("escalated", 0)
    # The key was used, and written nowhere the app writes.
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert b"sk-test-not-a-real-key" not in path.read_bytes()


def test_a_dead_endpoint_gives_escalations_not_a_crash(tmp_path):
    data_dir = tmp_path / "data"
    result = subprocess.run(
        [sys.executable, "-m", "agentcore", "--data-dir", str(data_dir), "--base-url",
         "http://127.0.0.1:9/v1", "replay", str(CORPUS), "--limit", "60", "--quiet"],
        capture_output=True, text=True, cwd=REPO, env=child_env(tmp_path), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replayed 60 of 60 requests" in result.stdout
    assert "llm unavailable" in result.stdout
