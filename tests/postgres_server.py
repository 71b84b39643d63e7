"""A real PostgreSQL server for the tests, from the machine's own binaries.

initdb and pg_ctl into a temporary folder, on a free loopback port, with its unix
socket in that folder too: nothing of the machine's own cluster is touched.
PostgreSQL refuses to run as root, and CI runs everything as root: then the server
runs as the `postgres` system user the Debian package creates (`runuser -u postgres
--`). pytest-postgresql's executor starts pg_ctl as the current user only, hence
this small module of our own. A test run killed mid-way leaves no server behind
(tests/postgres_watchdog.py).

Without server binaries the PostgreSQL tests skip, saying how to install them;
with AGENTCORE_REQUIRE_POSTGRES=1 (set by .ci/run) they fail instead, so CI never
passes by skipping them.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "postgres"
PASSWORD = "pg-test-secret"  # scram over TCP: the tests can be refused a wrong one
REQUIRE = "AGENTCORE_REQUIRE_POSTGRES"


class NoServer(Exception):
    """No PostgreSQL server binaries on this machine (the reason, in words)."""


def binaries() -> Path:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's versioned folders
    (/usr/lib/postgresql/<major>/bin, not on PATH), the newest first."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                         else 0, reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    raise NoServer("no PostgreSQL server binaries (initdb, pg_ctl) on this machine: "
                   "`apt-get install postgresql` runs these tests")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str
    password: str
    # The server going away mid-shift and coming back (its data kept): a test's own
    # server only (`running_server()`), never the session's, which others share.
    stop: Callable[[], None] = field(repr=False, default=lambda: None)
    start: Callable[[], None] = field(repr=False, default=lambda: None)

    def url(self, database: str = "postgres", *, with_password: bool = False) -> str:
        secret = f":{self.password}" if with_password else ""
        return f"postgresql://{self.user}{secret}@{self.host}:{self.port}/{database}"


def _as_server_user() -> tuple[list[str], int | None, int | None]:
    """The command prefix that runs the server's programs, and the owner its folder
    needs: as root, the `postgres` user; otherwise whoever runs the tests."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise NoServer("running as root, and no `postgres` system user to run the server "
                       "as (PostgreSQL refuses root): `apt-get install postgresql` "
                       "creates it") from None
    return ["runuser", "-u", "postgres", "--"], user.pw_uid, user.pw_gid


@contextlib.contextmanager
def running_server() -> Iterator[Server]:
    """A server for as long as the block runs; stopped and its folder removed after."""
    bin_dir = binaries()
    prefix, uid, gid = _as_server_user()
    # As root, in /tmp itself: a TMPDIR under /root would be closed to the postgres user,
    # and a long one would pass the unix socket path's 107 characters.
    root = Path(tempfile.mkdtemp(prefix="agentcore-pg-",
                                 dir="/tmp" if uid is not None and Path("/tmp").is_dir()
                                 else None))
    data, log = root / "data", root / "server.log"
    # Stops the server and removes the folder should this process die before it does
    # (tests/postgres_watchdog.py): started first, so no moment leaves a server behind.
    watchdog = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("postgres_watchdog.py")),
         json.dumps({"stop": [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m",
                              "immediate", "-w", "stop"], "folder": str(root)})],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd="/", start_new_session=True)  # a Ctrl-C to the run's process group spares it
    try:
        if uid is not None:
            os.chown(root, uid, gid if gid is not None else -1)
        (root / "pwfile").write_text(PASSWORD + "\n")
        if uid is not None:
            os.chown(root / "pwfile", uid, -1)

        def run(*args: str) -> None:
            done = subprocess.run([*prefix, *args], capture_output=True, text=True,
                                  check=False, cwd=root)
            if done.returncode != 0:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr}"
                                   f"{done.stdout}\n{tail}")

        # Trust on the socket (the tests' own set-up), a password over TCP (what a
        # station does, so a wrong password is refused as it would be).
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--pwfile",
            str(root / "pwfile"), "--auth-local=trust", "--auth-host=scram-sha-256",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        port = _free_port()
        # fsync off: a test server that loses its data in a power cut loses nothing. A
        # commit still reaches the OS before it returns (synchronous_commit stays on), so
        # a server killed mid-test (`stop`) comes back with everything it confirmed.
        options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
                   " -c full_page_writes=off -c max_connections=200")
        running = [False]

        def start() -> None:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
                "-w", "-t", "60", "start")
            running[0] = True

        def stop() -> None:  # immediate: as a crash or a pulled cable looks to a client
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
            running[0] = False

        start()
        try:
            yield Server("127.0.0.1", port, SUPERUSER, PASSWORD, stop=stop, start=start)
        finally:
            if running[0]:
                stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
        assert watchdog.stdin is not None
        watchdog.stdin.close()  # its cue; the server is stopped already, the folder gone
        watchdog.wait(timeout=120)
