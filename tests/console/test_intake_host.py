"""The console hosting the HTTP intake on its own (qasync) loop: one POST answered,
shown in the status bar, and off again when the toggle is."""

from __future__ import annotations

import httpx2

from tests.console.conftest import run


def test_the_console_hosts_the_intake_and_answers_a_post(make_console, settings, qtbot):
    settings.intake.enabled = True
    settings.intake.port = 0
    console = make_console(settings)
    window = console.window
    run(qtbot, window.intake_host.apply(settings.intake))
    url = window.intake_host.url
    assert url and url.startswith("http://127.0.0.1:")

    async def post() -> httpx2.Response:
        async with httpx2.AsyncClient(base_url=url, timeout=30) as http:
            return await http.post("/v1/requests", headers={"Prefer": "wait=10"},
                                   json={"text": "where is my order 1001?", "customer_id": 3})

    reply = run(qtbot, post(), 40_000)
    assert reply.status_code == 200 and reply.json()["status"] == "answered"
    window.intake_segment.refresh()
    assert window.intake_segment.text() == f"Intake: {url} · 1 req/min"
    run(qtbot, window.intake_host.apply(settings.intake.model_copy(update={"enabled": False})))
    window.intake_segment.refresh()
    assert window.intake_segment.text() == "Intake: off"
