"""`python -m console` as a user starts it: demo mode, traffic, a clean shutdown."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.processes import console_start

REPO = Path(__file__).resolve().parents[2]


def test_python_m_console_runs_the_demo_and_shuts_down_cleanly(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(tmp_path / "config"),  # the window.ini goes here
           "XDG_DATA_HOME": str(tmp_path / "share")}
    result = subprocess.run(
        [sys.executable, "-m", "console", "--data-dir", str(data), "--rate", "40",
         "--settings", str(tmp_path / "settings.json"), "--quit-after", "1.5"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stderr
    for step in ("starting", "settings:", "engine ready", "window ready", "traffic started",
                 "shutting down", "engine closed", "bye"):
        assert step in log, step
    assert "mock (400 ms)" in log  # demo mode: the mock LLM with a realistic latency
    assert "Traceback" not in log
    # Demo traffic ran, and the shutdown let every accepted request finish.
    with sqlite3.connect(data / "agent.sqlite") as conn:
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM requests GROUP BY status"))
    # Some ran (how many in 1.5 s depends on the machine's load, not on the console).
    assert sum(statuses.values()) > 0
    assert "accepted" not in statuses
    assert (tmp_path / "config" / "agent-console" / "window.ini").exists()
    assert (data / "console.log").read_text(encoding="utf-8").count("window ready") == 1


def test_an_unreadable_settings_file_is_reported_not_a_traceback(tmp_path):
    bad = tmp_path / "settings.json"
    bad.write_text('{"llm": {"max_tokens": "lots"}}', encoding="utf-8")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    result = console_start(["--settings", str(bad), "--data-dir", str(tmp_path / "data")], env)
    assert result.returncode == 2
    assert "shown:" in result.stdout and "max_tokens" in result.stdout
    assert "Traceback" not in result.stderr


def test_the_console_runs_the_demo_with_its_shop_over_mcp(tmp_path):
    """`--shop-over-mcp http`: the shop's server started on a loopback port for the
    console's run, its tools answering the demo's traffic, and stopped at the end."""
    import re
    import socket

    data = tmp_path / "data"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "share")}
    result = subprocess.run(
        [sys.executable, "-m", "console", "--data-dir", str(data), "--rate", "40",
         "--settings", str(tmp_path / "settings.json"), "--quit-after", "3",
         "--shop-over-mcp", "http"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stderr
    found = re.search(r"the demo shop's tools over MCP \(http\): (http://127\.0\.0\.1:(\d+)/mcp)",
                      log)
    assert found, log[-3000:]
    assert "Traceback" not in log and "bye" in log
    with sqlite3.connect(data / "agent.sqlite") as conn:
        answered = conn.execute("SELECT COUNT(*) FROM requests WHERE status = 'answered'"
                                ).fetchone()[0]
    assert answered > 0
    with socket.socket() as probe:  # the server went with the console
        assert probe.connect_ex(("127.0.0.1", int(found.group(2)))) != 0
