"""The demo traffic after a crash: `python -m console` SIGKILLed mid-demo, then started
again, carries on near where it was instead of replaying (and re-escalating) the
corpus from its first row."""

from __future__ import annotations

import configparser
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from console.traffic import SAVE_EVERY_S

REPO = Path(__file__).resolve().parents[2]
RATE = 40
IN_FLIGHT = 16  # the generator's default bound
KILL_AFTER = 200  # requests on disk: well past the first saved positions
WAIT_LIMIT_S = 120  # a bound against a stuck child, not a timing assertion


def _requests(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def _stored_row(window_ini: Path) -> int:
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(window_ini, encoding="utf-8")
    return int(ini["traffic"]["position"].strip('"').split()[0])


def test_after_a_kill_the_next_launch_carries_on_near_where_the_demo_was(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "share")}
    command = [sys.executable, "-m", "console", "--data-dir", str(data), "--rate", str(RATE),
               "--settings", str(tmp_path / "settings.json")]
    with (tmp_path / "first.log").open("w") as log:
        child = subprocess.Popen(command, stdout=log, stderr=log, cwd=REPO, env=env)
        try:
            deadline = time.monotonic() + WAIT_LIMIT_S
            while _requests(data / "agent.sqlite") < KILL_AFTER:
                assert child.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the demo traffic never got going"
                time.sleep(0.1)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
    on_disk = _requests(data / "agent.sqlite")

    row = _stored_row(tmp_path / "config" / "agent-console" / "window.ini")
    # Written down at most SAVE_EVERY_S before the kill: that much of the corpus (and
    # what was in flight) is replayed again, not everything since row 0.
    assert on_disk - (SAVE_EVERY_S * RATE + IN_FLIGHT) * 1.5 <= row <= on_disk + IN_FLIGHT
    assert row > 0

    second = subprocess.run([*command, "--quit-after", "1.5"], capture_output=True, text=True,
                            cwd=REPO, env=env, timeout=WAIT_LIMIT_S)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"traffic started at row {row}:" in second.stderr
    assert _requests(data / "agent.sqlite") > on_disk  # it carried on
