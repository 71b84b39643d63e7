"""Stops a test PostgreSQL server whose test run died (tests/postgres_server.py).

pg_ctl starts the server in a session of its own, so a pytest killed with kill -9,
or by a timeout, would leave it running, holding its port, its shared memory and its
folder in /tmp, run after run. This process is started beside each server, reading
a pipe from the test run: the pipe closes when the run ends, however it ends. It then
stops the server (immediate: nothing in a test server is worth a checkpoint) if it
still runs, and removes its folder.

Run as a script by path, not imported: it must not need the test run's imports.
Its one argument is JSON: {"stop": [the pg_ctl stop command], "folder": "..."}.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    sys.stdin.buffer.read()  # until EOF: the test run is done with the server, or dead
    # After a clean end the server is already stopped: pg_ctl then says so and fails.
    subprocess.run(spec["stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False, timeout=120)
    shutil.rmtree(spec["folder"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
