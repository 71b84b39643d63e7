"""An attached station's hand-back when its service's answer is a refusal: a request
the service may have taken up is never left to the others' sweeps (two runs, two
writes); one it surely did not take is (tests/agentcore/test_stations.py: a service
that cannot be reached at all, then takes it up)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from agentcore.attached import AttachedIntake
from agentcore.errors import IntakeUnreachable
from agentcore.models import Request
from agentcore.storage import SQLiteStorage


@pytest.fixture
async def refusing() -> AsyncIterator[tuple[str, list[int]]]:
    """A service whose re-run endpoint answers with the status the test puts first."""
    statuses: list[int] = []

    async def rerun(_: web.Request) -> web.Response:
        return web.json_response({"error": "boom"}, status=statuses[0])

    app = web.Application()
    app.router.add_post("/v1/requests/{id}/rerun", rerun)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}", statuses
    await runner.cleanup()


@pytest.mark.parametrize(("status", "left"), [(500, False), (502, False), (503, True),
                                              (401, True)])
async def test_a_hand_back_is_left_to_the_sweeps_only_when_no_service_took_it(
        refusing, tmp_path, status, left):
    base, statuses = refusing
    statuses.append(status)
    store = SQLiteStorage(tmp_path / "engine.sqlite")
    intake = AttachedIntake(base, store, token_entry="intake-token", secret=lambda _: "t")
    try:
        handed = Request(text="where is my order?", customer_id=7, note="it shipped")
        store.requests.accept(handed)
        with pytest.raises(IntakeUnreachable) as raised:
            await intake.rerun(handed)
        assert ("the hand-back is kept" in str(raised.value)) is left
        # Still the station's (it disowns it now) only if the rerun left it alone.
        assert store.requests.disown(handed.id) is not left
    finally:
        await intake.close()
        store.close()
