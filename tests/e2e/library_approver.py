"""One station approving one pending library write, as a separate process:

    python -m tests.e2e.library_approver DATA BASE_URL START OPERATOR ESCALATION_ID

waits until START (epoch seconds) so two of them race, claims the item, approves
it, and prints {"done": 0 or 1, "refused": [...]} as its last line."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from agentcore import Engine, Settings
from agentcore.escalations import QueueError

DOMAIN = "library_loans:create"


async def approve(data_dir: str, base_url: str, start: str, operator: str,
                  escalation_id: str) -> dict[str, Any]:
    settings = Settings(data_dir=Path(data_dir), domain=DOMAIN)
    settings.llm.base_url = base_url
    engine = Engine(settings)
    done, refused = 0, []
    try:
        await asyncio.sleep(max(0.0, float(start) - time.time()))
        try:
            await engine.escalations.claim(int(escalation_id), operator, lease_s=300)
            result = await engine.escalations.approve(int(escalation_id), operator)
            done = 0 if result.get("replayed") else 1
        except QueueError as exc:
            refused.append(str(exc))
    finally:
        await engine.close()
    return {"done": done, "refused": refused}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(approve(*sys.argv[1:]))), flush=True)
