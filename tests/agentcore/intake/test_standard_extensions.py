"""The intake as `agentcore serve` and the console mount it: an SRE's endpoints beside
/v1/requests, counting what the intake took in."""

from __future__ import annotations

import httpx2
from prometheus_client.parser import text_string_to_metric_families

from agentcore.credentials import KeyringCredentials
from agentcore.engine import Engine
from agentcore.intake.hosting import intake_server
from agentcore.intake.settings import IntakeSettings


async def test_serve_mounts_health_and_metrics_beside_the_intake(settings, test_keyring):
    settings.intake = IntakeSettings(port=0)
    engine = Engine(settings, credentials=KeyringCredentials())
    server = intake_server(engine, settings.intake, KeyringCredentials())
    url = await server.start()
    try:
        async with httpx2.AsyncClient(base_url=url.rstrip("/")) as client:
            posted = await client.post("/v1/requests", json={
                "text": "what are your opening hours?"}, headers={"Prefer": "wait=10"})
            assert posted.json()["status"] == "answered"
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/readyz")).status_code == 200
            # Not a Chatwoot channel without its settings: nothing mounted there.
            assert (await client.post("/channels/chatwoot", json={})).status_code == 404
            metrics = (await client.get("/metrics")).text
        answered = [s.value for f in text_string_to_metric_families(metrics)
                    for s in f.samples if s.name.endswith("requests_total")
                    and s.labels.get("status") == "answered"]
        assert sum(answered) == 1
    finally:
        await server.close()
        await engine.close()


async def test_metrics_ask_for_the_intakes_token_and_the_probes_do_not(settings, test_keyring):
    KeyringCredentials().set("intake-token", "scrape-token")
    settings.intake = IntakeSettings(port=0, require_token=True)
    engine = Engine(settings, credentials=KeyringCredentials())
    server = intake_server(engine, settings.intake, KeyringCredentials())
    url = await server.start()
    try:
        async with httpx2.AsyncClient(base_url=url) as client:
            bare = await client.get("/metrics")
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
            right = await client.get("/metrics",
                                     headers={"Authorization": "Bearer scrape-token"})
            probes = [(await client.get(p)).status_code for p in ("/healthz", "/readyz")]
        assert bare.status_code == 401 and wrong.status_code == 401
        assert bare.headers["WWW-Authenticate"].startswith("Bearer")
        assert "agentcore_requests" not in bare.text  # nothing of the figures leaks
        assert right.status_code == 200
        families = {f.name for f in text_string_to_metric_families(right.text)}
        assert "agentcore_outbox_deliveries" in families
        assert probes == [200, 200]  # liveness and readiness probes carry no secret
    finally:
        await server.close()
        await engine.close()


async def test_without_a_token_on_loopback_metrics_are_open(settings, test_keyring):
    settings.intake = IntakeSettings(port=0)
    engine = Engine(settings, credentials=KeyringCredentials())
    server = intake_server(engine, settings.intake, KeyringCredentials())
    url = await server.start()
    try:
        async with httpx2.AsyncClient(base_url=url) as client:
            assert (await client.get("/metrics")).status_code == 200
    finally:
        await server.close()
        await engine.close()
