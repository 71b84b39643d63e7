"""A process of its own accepting requests on PostgreSQL until it is killed
(test_pg_requests' crash test). It says on stdout what it has done, once done:
`accepted <id>` after `accept` returned; `flushed <id> ...` after `flush` returned
with those outcomes finished."""

from __future__ import annotations

import sys

from agentcore.storage._pg import PostgresStorage
from tests.agentcore.storage.records import answered, request


def main(url: str, password: str) -> None:
    store = PostgresStorage(url, password)
    finished: list[str] = []
    n = 0
    while True:  # until SIGKILL
        req = request(n, at=1_000.0 + n)
        store.requests.accept(req)
        print("accepted", req.id, flush=True)
        if n % 3:  # two in three get an outcome; the others stay as a crash leaves them
            store.requests.finish(answered(req))
            finished.append(req.id)
        if n % 10 == 9:
            store.flush()
            print("flushed", *finished, flush=True)
            finished.clear()
        n += 1


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
