"""Secrets appear nowhere: not in a file the programs write, not in what they print.

The CLI runs as a user runs it, in its own process, against the mock LLM in a
process of its own that refuses every key by quoting it back, as OpenAI does
with a wrong key. The key is in the (test) keyring the child reads. Afterwards
every file in the data folder (engine database with its WAL, shop, cache) and
all of stdout and stderr, with INFO logging on, are searched for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.keyring_backend import FileKeyring
from tests.processes import console_start, mock_llm_process

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "data" / "requests.jsonl"
KEYS = ("sk-proj-Qm3xT8vLw2Zr5Yk9Hc4Nd7Fb", "hunter2-local-key")  # OpenAI's shape; none


@pytest.fixture
def refusing_llm_url():
    with mock_llm_process("--reject-key") as url:
        yield url


def child_env(tmp_path: Path, key: str) -> dict[str, str]:
    backend = FileKeyring(tmp_path / "keyring.json")
    backend.set_password("agent-console", "default", key)
    return dict(os.environ, XDG_DATA_HOME=str(tmp_path / "xdg"), **backend.child_env())


def needles(secret: str) -> tuple[str, ...]:
    # Its tail too: an elided quote ("htt...Yk9Hc4Nd7Fb@h") would still give much of it away.
    return secret, secret[-12:]


def assert_nowhere(secret: str, result: subprocess.CompletedProcess[str], root: Path,
                   besides: Path | None = None) -> None:
    """Not printed, and in no file under `root` (but `besides`, the test's own)."""
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        assert not any(n in text for n in needles(secret)), f"{name}:\n{text[-2000:]}"
    files = [p for p in root.rglob("*") if p.is_file() and p != besides]
    assert files
    encoded = [n.encode(codec) for n in needles(secret) for codec in ("utf-8", "utf-16-le")]
    for path in files:
        data = path.read_bytes()
        assert not any(n in data for n in encoded), f"the key leaked into {path}"


def agentcore(tmp_path: Path, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentcore", "-v", "--data-dir",
                           str(tmp_path / "data"), *args],
                          capture_output=True, text=True, cwd=REPO,
                          env=child_env(tmp_path, key), timeout=300)


@pytest.mark.parametrize("key", KEYS)
def test_ask_against_an_endpoint_quoting_the_key_prints_and_stores_it_nowhere(
        tmp_path, refusing_llm_url, key):
    result = agentcore(tmp_path, key, "--base-url", refusing_llm_url, "ask",
                       "I want to speak to a lawyer about my data", "--customer", "1")
    assert result.returncode == 1, result.stderr[-3000:]  # the LLM could not be had
    printed = json.loads(result.stdout)
    assert printed["status"] == "escalated" and printed["escalation"] == "llm unavailable"
    # What was refused is still said, and logged (INFO, -v): only the key is masked.
    assert any("Incorrect API key provided: ***" in e for e in printed["errors"])
    assert any("Incorrect API key provided: ***" in (s["error"] or "") for s in printed["spans"])
    assert "engine ready" in result.stderr
    assert_nowhere(key, result, tmp_path / "data")


@pytest.mark.parametrize("key", KEYS)
def test_a_replay_against_an_endpoint_quoting_the_key_prints_and_stores_it_nowhere(
        tmp_path, refusing_llm_url, key):
    result = agentcore(tmp_path, key, "--base-url", refusing_llm_url, "replay", str(CORPUS),
                       "--limit", "40", "--concurrency", "8", "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replayed 40 of 40 requests" in result.stdout
    assert "llm unavailable" in result.stdout  # the slow path did reach the endpoint
    assert_nowhere(key, result, tmp_path / "data")


SETTINGS_WITH_A_KEY_IN_THE_URL = "https://ops:{key}@h"


@pytest.mark.parametrize("key", KEYS)
def test_a_key_pasted_into_the_base_url_is_refused_without_printing_it(tmp_path, key):
    # pydantic quotes a refused value in its message (elided in the middle: the key at
    # the end of a short one shows), and the CLI prints that message.
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(
        {"llm": {"base_url": SETTINGS_WITH_A_KEY_IN_THE_URL.format(key=key)}}), encoding="utf-8")
    result = agentcore(tmp_path, "unused-key-000", "--settings", str(settings), "ask", "hello")
    assert result.returncode == 2
    assert "put credentials in the keyring" in result.stderr
    assert_nowhere(key, result, tmp_path, besides=settings)


@pytest.mark.parametrize("key", KEYS)
def test_the_console_refuses_a_key_in_the_base_url_without_showing_or_logging_it(
        tmp_path, key):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(
        {"llm": {"base_url": SETTINGS_WITH_A_KEY_IN_THE_URL.format(key=key)}}), encoding="utf-8")
    env = {**child_env(tmp_path, "unused-key-000"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    result = console_start(["--settings", str(settings), "--data-dir", str(tmp_path / "data")],
                           env)
    assert result.returncode == 2
    assert "shown:" in result.stdout and "put credentials in the keyring" in result.stdout
    assert_nowhere(key, result, tmp_path, besides=settings)


def test_the_consoles_log_file_and_terminal_mask_what_a_record_quotes(tmp_path):
    """The safety net under the console: both of its log handlers redact."""
    key = "hunter2-local-key"
    script = (
        "import logging, sys; from pathlib import Path;"
        "from console.app import setup_logging, _log_to_file;"
        "from agentcore.redaction import register_secret;"
        "setup_logging('INFO'); _log_to_file(Path(sys.argv[1])); register_secret(sys.argv[2]);"
        "log = logging.getLogger('agentcore.llm');"
        "log.warning('endpoint said: Incorrect API key provided: %s', sys.argv[2]);"
        "log.warning('sent Authorization: Bearer tok-9f8e7d6c5b4a');\n"
        "try:\n    raise RuntimeError('refused ' + sys.argv[2])\n"
        "except RuntimeError:\n    log.exception('a request failed')\n")
    data = tmp_path / "data"
    result = subprocess.run([sys.executable, "-c", script, str(data), key],
                            capture_output=True, text=True, cwd=REPO,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, timeout=60)
    assert result.returncode == 0, result.stderr
    logged = (data / "console.log").read_text(encoding="utf-8")
    for text in (logged, result.stderr):
        assert "Incorrect API key provided: ***" in text and "RuntimeError: refused ***" in text
        assert key not in text and "tok-9f8e7d6c5b4a" not in text
