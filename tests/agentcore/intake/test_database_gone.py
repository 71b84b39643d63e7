"""A service on PostgreSQL whose server goes away mid-shift: the intake refuses new
requests in one sentence (503, nothing half-accepted), /readyz says why, and once the
server is back it takes requests again and what it had accepted is answered."""

from __future__ import annotations

import httpx2

from agentcore.credentials import KeyringCredentials
from agentcore.intake.hosting import standard_extensions
from tests.agentcore.intake.conftest import until

ORDER = {"text": "where is my order 1001?", "customer_id": 3}


async def test_the_intake_says_the_database_is_gone_then_serves_again(intake, own_server):
    KeyringCredentials().set("database-password", own_server.password)
    intake.settings.database_url = own_server.url("agent")
    service = await intake(extensions=tuple(standard_extensions(KeyringCredentials())))
    async with httpx2.AsyncClient(base_url=service.url) as http:
        before = await http.post("/v1/requests", json=ORDER, headers={"Prefer": "wait=10"})
        assert before.status_code == 200 and before.json()["status"] == "answered"
        assert (await http.get("/readyz")).status_code == 200

        own_server.stop()  # immediate, as a crash or a pulled cable looks to the service
        refused = await http.post("/v1/requests", json={**ORDER, "external_id": "gone-1"})
        assert refused.status_code == 503
        problem = refused.json()
        assert "database" in str(problem).lower()
        assert "Traceback" not in refused.text
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert f"127.0.0.1:{own_server.port}" in ready.text

        own_server.start()
        async def accepted_again() -> bool:
            posted = await http.post("/v1/requests",
                                     json={**ORDER, "external_id": "back-1"})
            return posted.status_code in (200, 202)
        for _ in range(200):  # the pool replaces its dead connections on demand
            if await accepted_again():
                break
        else:
            raise AssertionError("the intake never took a request again")
        await until(lambda: service.engine.store.requests.status(before.json()["id"])
                    == "answered")
        # The refused request left nothing behind: a retry is a first submit.
        retried = await http.post("/v1/requests", json={**ORDER, "external_id": "gone-1"},
                                  headers={"Prefer": "wait=10"})
        assert retried.status_code == 200 and retried.json()["status"] == "answered"
        assert (await http.get("/readyz")).status_code == 200
