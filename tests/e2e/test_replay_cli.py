"""The whole program: the CLI replays the corpus against the mock LLM served on a
loopback port by its own process, through the real openai client."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.keyring_backend import FileKeyring
from tests.processes import mock_llm_process

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "data" / "requests.jsonl"


@pytest.fixture
def mock_llm_url():
    with mock_llm_process() as url:
        yield url


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


def test_bad_lines_are_named_and_skipped_and_the_good_ones_answered(tmp_path, mock_llm_url):
    good = [{"text": "refund policy?", "customer_id": 115, "channel": "web"},  # a rule
            {"text": "hey there", "customer_id": 75},  # a rule, the default channel
            {"text": "can you email me a link to reset my password", "customer_id": 222},
            {"text": "I have a problem", "customer_id": None}]  # the LLM, anonymous
    lines = [json.dumps(good[0]), "[1, 2]", json.dumps(good[1]), '"text"', "42", "",
             "null", json.dumps(good[2]), "{not json", json.dumps(good[3]),
             json.dumps({"text": 42})]  # left to the guard: turned away with a reason
    corpus = tmp_path / "mixed.jsonl"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data_dir = tmp_path / "data"
    result = subprocess.run(
        [sys.executable, "-m", "agentcore", "--data-dir", str(data_dir), "--base-url",
         mock_llm_url, "replay", str(corpus), "--quiet"],
        capture_output=True, text=True, cwd=REPO, env=child_env(tmp_path), timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]  # not every line was replayed
    assert result.stderr.splitlines() == [
        f"{corpus}:2: not a JSON object (a list)",
        f"{corpus}:4: not a JSON object (a string)",
        f"{corpus}:5: not a JSON object (a number)",
        f"{corpus}:7: not a JSON object (null)",
        f"{corpus}:9: not JSON (Expecting property name enclosed in double quotes at column 2)"]
    assert "replayed 5 of 5 requests" in result.stdout
    assert f"skipped 5 bad lines of {corpus}, each named on stderr" in result.stdout
    assert "rejected: not text 1" in result.stdout
    with sqlite3.connect(data_dir / "agent.sqlite") as conn:
        stored = dict(conn.execute("SELECT text, status FROM requests"))
    assert stored == {**{row["text"]: "answered" for row in good}, "42": "rejected"}
