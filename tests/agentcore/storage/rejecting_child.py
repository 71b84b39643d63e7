"""`python -m tests.agentcore.storage.rejecting_child KIND LOCATION N`: a store that turns
away requests req-0..req-N-1 (the guard's rejections) and is killed with SIGKILL the
moment the last `reject` returns, before any writer thread could catch up. The
PostgreSQL password comes in AGENTCORE_TEST_DB_PASSWORD."""

from __future__ import annotations

import os
import signal
import sys

from tests.agentcore.storage.databases import Database
from tests.agentcore.storage.records import request, turned_away


def main() -> None:
    kind, location, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = Database(kind, location, os.environ.get("AGENTCORE_TEST_DB_PASSWORD")).open()
    for i in range(n):
        store.requests.reject(turned_away(request(i, at=1_000.0 + i)))
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main()
