"""`agent-console --database postgresql://...`: the console's own engine on the team's
database (its demo traffic written there, nothing in a file); a server that does not
answer is said in the start-up box, in one sentence."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg

from agentcore.credentials import KeyringCredentials
from tests.keyring_backend import BACKEND_NAME, FILE_VARIABLE
from tests.processes import REPO, console_start


def _env(tmp_path):
    """The console as a process, with the test's keyring file as its keyring."""
    return {**os.environ, "PYTHONPATH": str(REPO), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "PYTHON_KEYRING_BACKEND": BACKEND_NAME,
            FILE_VARIABLE: str(tmp_path / "keyring.json")}


def test_the_console_runs_its_demo_on_postgresql(tmp_path, pg_url, postgres_server,
                                                 test_keyring):
    KeyringCredentials().set("database-password", postgres_server.password)
    data = tmp_path / "data"
    env = {**_env(tmp_path), "QT_QPA_PLATFORM": "offscreen",
           "XDG_DATA_HOME": str(tmp_path / "share")}
    result = subprocess.run(
        [sys.executable, "-m", "console", "--data-dir", str(data), "--database", pg_url,
         "--rate", "40", "--settings", str(tmp_path / "settings.json"), "--quit-after", "2"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "PostgreSQL database" in result.stderr  # the log names where the engine writes
    assert not (data / "agent.sqlite").exists()
    with psycopg.connect(pg_url, password=postgres_server.password) as conn:
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM requests GROUP BY status"))
    assert sum(statuses.values()) > 0 and "accepted" not in statuses


def test_a_database_nobody_answers_is_said_in_the_start_up_box(tmp_path):
    result = console_start(["--data-dir", str(tmp_path / "data"), "--settings",
                            str(tmp_path / "settings.json"),
                            "--database", "postgresql://agent@127.0.0.1:9/agent"], _env(tmp_path))
    assert result.returncode == 2
    assert "shown: no PostgreSQL server answers at 127.0.0.1:9" in result.stdout
    assert "Traceback" not in result.stderr
