"""`python -m tests.agentcore.storage.crashed_instance KIND LOCATION N`: a store that
accepts requests req-0..req-N-1 and claims one more (claim-0, never accepted), then is
killed with SIGKILL: an instance that died mid-work, its heartbeat row left behind.
The PostgreSQL password comes in AGENTCORE_TEST_DB_PASSWORD."""

from __future__ import annotations

import os
import signal
import sys

from agentcore.storage import IntakeRecord
from tests.agentcore.storage.databases import Database
from tests.agentcore.storage.records import request


def main() -> None:
    kind, location, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = Database(kind, location, os.environ.get("AGENTCORE_TEST_DB_PASSWORD")).open()
    for i in range(n):
        store.requests.accept(request(i, at=1_000.0 + i))
    store.intake.claim(IntakeRecord("claim-0", "key-0", "api", None, None, None,
                                    text="where is my order 1?", customer_id=7,
                                    received_at=1.0), 1.0)
    print(store.instance.id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main()
