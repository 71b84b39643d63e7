"""Hostile bodies and tokens at the intake: each a clear 4xx with a reason, nothing
half-written, and no token that opens the server by being blank."""

from __future__ import annotations

import httpx2
import pytest

from agentcore.credentials import KeyringCredentials
from agentcore.errors import SettingsError

ORDER = {"text": "where is my order 1001?", "customer_id": 3}


@pytest.mark.parametrize("body", [
    b"[" * 30_000 + b"]" * 30_000,  # nesting deeper than the parser recurses
    b'{"text": "hi", "x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
])
async def test_json_nested_past_the_parsers_depth_is_400(intake, body):
    server = await intake()
    async with httpx2.AsyncClient(base_url=server.url) as http:
        got = await http.post("/v1/requests", content=body,
                              headers={"Content-Type": "application/json"})
        after = await http.post("/v1/requests", json=ORDER)
    assert got.status_code == 400, got.text
    assert "JSON" in got.json()["error"]
    assert after.status_code in (200, 202)  # the server still serves


@pytest.mark.parametrize("customer", [2**63, -(2**63) - 1, 10**30])
async def test_a_customer_id_too_large_to_store_is_400_and_nothing_is_claimed(intake,
                                                                              customer):
    server = await intake()
    async with httpx2.AsyncClient(base_url=server.url) as http:
        got = await http.post("/v1/requests", json={**ORDER, "customer_id": customer},
                              headers={"Idempotency-Key": "big"})
        again = await http.post("/v1/requests", json=ORDER, headers={"Idempotency-Key": "big"})
    assert got.status_code == 400, got.text
    assert "customer_id" in got.json()["error"]
    assert again.status_code in (200, 202)  # the key was not taken by the refused one


@pytest.mark.parametrize("stored", ["", "   ", "\t\n"])
async def test_a_blank_token_in_the_keyring_opens_nothing(intake, test_keyring, stored):
    """A blank entry (a paste gone wrong) is no token: beyond loopback the server refuses
    to start, and `Authorization: Bearer ` (or with spaces) is never let in."""
    KeyringCredentials().set("intake-token", stored)
    with pytest.raises(SettingsError, match="token"):
        await intake(host="0.0.0.0")
    with pytest.raises(SettingsError, match="token"):
        await intake(require_token=True)


async def test_a_token_stored_with_a_trailing_newline_is_the_token(intake, test_keyring):
    KeyringCredentials().set("intake-token", "s3cret-token\n")
    server = await intake()
    async with httpx2.AsyncClient(base_url=server.url) as http:
        right = await http.post("/v1/requests", json=ORDER,
                                headers={"Authorization": "Bearer s3cret-token"})
        blank = await http.get("/metrics", headers={"Authorization": "Bearer"})
    assert right.status_code in (200, 202)
    assert blank.status_code == 401


async def test_chatwoot_webhooks_nested_too_deep_or_with_ids_too_large_are_refused(
        settings, test_keyring):
    """A 500 would have Chatwoot redeliver the same poison for ever; a customer id past
    what the disk stores failed the claim with a 500 too."""
    from agentcore.channels import ChatwootSettings
    from agentcore.channels.chatwoot import ROUTE, extension
    from tests.agentcore.channels.chatwoot_standin import ACCOUNT, TOKEN, ChatwootStandin
    from tests.agentcore.intake.conftest import Running

    standin = ChatwootStandin(secret="whsec-hostile")  # signed: contacts name customers
    await standin.start()
    credentials = KeyringCredentials()
    credentials.set("chatwoot", TOKEN)
    credentials.set("chatwoot-webhook", "whsec-hostile")
    settings.chatwoot = ChatwootSettings(base_url=standin.url, account_id=ACCOUNT,
                                         webhook_secret_name="chatwoot-webhook",
                                         customer_attribute="customer_id")
    running = Running(settings)
    try:
        server = await running(extensions=(extension(credentials),))
        standin.bot_url = f"{server.url}{ROUTE}"
        standin.conversation(41, contact={"id": 1, "name": "Ada", "identifier": None,
                                          "custom_attributes": {"customer_id": 2**64}})
        huge = await standin.send(standin.payload(41, "where is my order 1001?",
                                                  message_id=7))
        standin.conversation(42, contact={"id": 2, "name": "Bo", "identifier": None,
                                          "custom_attributes": {"customer_id": "\u00b2"}})
        squared = await standin.send(standin.payload(42, "where is my order 1001?",
                                                     message_id=8))
        assert squared.status_code == 200, squared.text
        async with httpx2.AsyncClient(base_url=server.url) as http:
            poison = b"[" * 30_000 + b"]" * 30_000
            deep = await http.post(ROUTE, content=poison, headers=standin.headers_for(poison))
        assert deep.status_code == 400, deep.text
        assert huge.status_code == 200, huge.text
        # Out of range is no customer: answered as anonymous, never another's data.
        record = server.engine.store.intake.record(huge.json()["accepted"])
        assert record is not None and record.customer_id is None
    finally:
        await running.close()
        await standin.stop()
