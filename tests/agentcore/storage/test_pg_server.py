"""The tests' PostgreSQL server: real, started as the system user when we are root,
with a fresh database per test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.postgres_server import Server
from tests.processes import REPO


def test_each_test_gets_an_empty_database_of_its_own(pg_url, postgres_server):
    with psycopg.connect(pg_url, password=postgres_server.password) as conn:
        conn.execute("CREATE TABLE mine (x INTEGER)")
        tables = conn.execute("SELECT table_name FROM information_schema.tables"
                              " WHERE table_schema = 'public'").fetchall()
        assert tables == [("mine",)]
        assert conn.execute("SHOW server_version_num").fetchone()[0] >= "150000"


def test_the_next_test_sees_none_of_the_last_ones_tables(pg_url, postgres_server):
    with psycopg.connect(pg_url, password=postgres_server.password) as conn:
        assert conn.execute("SELECT count(*) FROM information_schema.tables"
                            " WHERE table_schema = 'public'").fetchone() == (0,)


def test_a_wrong_password_is_refused_over_tcp(pg_url):
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_url, password="wrong").close()


def test_a_test_run_killed_with_kill_9_leaves_no_server_behind(postgres_server):
    """pg_ctl puts the server in a session of its own: without the watchdog, every
    killed run would leave one holding its port and its folder in /tmp."""
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import time, psycopg\n"
         "from tests.postgres_server import running_server\n"
         "with running_server() as s:\n"
         "    with psycopg.connect(s.url(with_password=True)) as conn:\n"
         "        folder = conn.execute('SHOW data_directory').fetchone()[0]\n"
         "    print(s.port, folder, flush=True)\n"
         "    time.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert child.stdout is not None
    port, data = child.stdout.readline().split()
    server = Server("127.0.0.1", int(port), postgres_server.user, postgres_server.password)
    psycopg.connect(server.url(with_password=True)).close()  # up, and another's

    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()

    deadline = time.monotonic() + 60  # a bound on the wait, not a timing to meet
    while Path(data).parent.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(data).parent.exists()  # its folder gone, data and socket with it
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url(with_password=True), connect_timeout=5).close()
