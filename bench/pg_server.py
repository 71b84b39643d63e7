"""A PostgreSQL server of the bench's own: the tests' (tests/postgres_server.py, one
copy of the initdb/pg_ctl code: `python -m bench` runs from the repository, where
`tests` imports as a package), with a fresh database in it per part. Without server
binaries `NoServer` says how to install them, and the part reports itself not run."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from tests.postgres_server import NoServer, Server, running_server

__all__ = ["Database", "NoServer", "create_database", "database"]

_names = itertools.count(1)


@dataclass(frozen=True)
class Database:
    url: str  # without the password, as settings hold it
    password: str


def create_database(server: Server, prefix: str = "bench") -> Database:
    """A new, empty database on `server` (the PostgresStorage that opens it migrates it)."""
    import psycopg

    name = f"{prefix}_{next(_names)}"
    with psycopg.connect(server.url(with_password=True), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return Database(server.url(name), server.password)


@contextlib.contextmanager
def database(prefix: str = "bench") -> Iterator[Database]:
    """A server started for the block, with one new database in it."""
    with running_server() as server:
        yield create_database(server, prefix)


def server_cpu_s(url: str) -> float:
    """CPU seconds the server at `url` has used: its postmaster's and its processes'
    still running (each connection's backend, the writers), found by the port, as the
    bench's server runs as another user. A backend that has exited no longer counts:
    read across a stretch of a pool's connections, which stay open."""
    import psutil

    port = f"-p {url.rsplit(':', 1)[1].split('/', 1)[0]}"
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and port in " ".join(proc.info["cmdline"] or ()):
            total = 0.0
            for each in (proc, *proc.children(recursive=True)):
                try:
                    times = each.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                total += times.user + times.system
            return total
    return 0.0
