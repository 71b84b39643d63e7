"""The intake bench's harness on a second of load: `agentcore serve` in its own
process as the bench starts it, the open-loop generator against it, then the lost
check on the engine database after a graceful stop. When the serve command, the
POST's answer or the database's shape moves on, the bench must still count what it
claims to, or it breaks (or lies) only when someone runs it."""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.intake_bench import _intake_child, lost
from bench.intake_load import corpus_bodies, offer


async def test_every_request_offered_is_answered_named_and_finished_on_disk(
        tmp_path: Path, shop_template: Path):
    shutil.copy(shop_template, tmp_path / "shop.sqlite")
    server = _intake_child(tmp_path)
    try:
        await server.start()
        step = await offer(server.url, corpus_bodies()[:30], rate=30, seconds=1)
        await server.stop()
    finally:
        server.kill()

    assert (step.sent, step.answered, step.errors, step.unsent) == (30, 30, 0, 0)
    assert len(set(step.ids)) == 30  # each answer names its own request
    assert set(step.statuses) <= {"200", "202", "422"}
    assert lost(tmp_path / "agent.sqlite", step.ids) == 0
    # The check can fail: an id the intake never accepted is not on disk.
    assert lost(tmp_path / "agent.sqlite", [*step.ids, "never-accepted"]) == 1
