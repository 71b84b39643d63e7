"""No credential reaches an outcome, a trace or the engine's database, whoever quoted it:
the LLM endpoint refusing the key, a tool's backend, an exception nobody expected.

The endpoint is the mock LLM on a loopback port refusing every key as OpenAI
does, by quoting it; the key comes from the (test) keyring, as in production.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from agentcore import Engine, EscalationReason, KeyringCredentials, Request, Status, ToolError
from agentcore.demo_shop import DemoShop
from agentcore.demo_shop.tools import shop_registry
from agentcore.mock_llm import MockServer
from agentcore.settings import Settings
from agentcore.tools import ToolContext
from tests.agentcore.scripted_llm import ScriptedLLM, final, tool_call

SLOW_TEXT = "my app keeps crashing and nothing helps"  # no rule; the ladder answers it
TO_A_HUMAN = "I want to speak to a lawyer about my data"  # no rule, no static answer
KEYS = ("sk-proj-Qm3xT8vLw2Zr5Yk9Hc4Nd7Fb", "hunter2-local-key")  # OpenAI's shape; none


def stored_texts(settings: Settings) -> dict[str, list[str]]:
    """Every text column the engine writes about a request's failures."""
    with sqlite3.connect(settings.engine_db) as conn:
        return {
            "outcomes.errors": [r[0] for r in conn.execute("SELECT errors FROM outcomes")],
            "spans.error": [r[0] for r in conn.execute(
                "SELECT error FROM spans WHERE error IS NOT NULL")],
            "escalations.context": [r[0] for r in conn.execute(
                "SELECT context FROM escalations")],
        }


def assert_written_nowhere(secret: str, data_dir: Path) -> None:
    for path in data_dir.rglob("*"):
        if path.is_file():  # the engine database with its WAL, the shop, the cache
            data = path.read_bytes()
            assert secret.encode() not in data, f"{secret} leaked into {path.name}"
            assert secret.encode("utf-16-le") not in data, f"{secret} leaked into {path.name}"


@pytest.mark.parametrize("key", KEYS)
async def test_an_endpoint_quoting_the_refused_key_gets_it_into_nothing_the_engine_keeps(
        settings, test_keyring, caplog, key):
    caplog.set_level(logging.DEBUG)  # every logger, the SDK's and httpx's included
    test_keyring.set_password("agent-console", "default", key)
    with MockServer(reject_key=True) as server:
        settings.llm.base_url = server.base_url
        engine = Engine(settings, credentials=KeyringCredentials())
        try:
            outcomes = [await engine.submit(Request(text, customer_id=1))
                        for text in (SLOW_TEXT, TO_A_HUMAN)]
        finally:
            await engine.close()
    assert server.stats.faults["401"] >= 2  # the key was presented, and quoted back

    degraded, escalated = outcomes
    assert degraded.status is Status.ANSWERED and degraded.rung == "template"
    assert escalated.status is Status.ESCALATED
    assert escalated.escalation_reason is EscalationReason.LLM_UNAVAILABLE
    for outcome in outcomes:
        # The operator still learns what happened: the endpoint refused the key.
        assert any("Incorrect API key provided: ***" in e for e in outcome.errors)
        texts = [*outcome.errors, *(json.dumps(s.attributes) for s in outcome.spans),
                 *(s.error or "" for s in outcome.spans)]
        assert not [t for t in texts if key in t]

    stored = stored_texts(settings)
    assert all(stored.values()), stored  # each column holds the failure...
    for column, values in stored.items():
        assert not [v for v in values if key in v], column  # ...and never the key
    assert "***" in stored["escalations.context"][0]
    assert_written_nowhere(key, settings.data_dir)
    # Cleaned where the text entered, not only by the CLI's and console's log filter.
    assert key not in caplog.text


def escalating_engine(settings: Settings, tool, script: ScriptedLLM) -> Engine:
    settings.llm.classify = None  # one decide stage keeps the script exact
    domain = DemoShop(settings)
    tools = shop_registry(domain.shop, extra_reads=[tool])
    return Engine(settings, openai_client=script.client(), domain=domain, tools=tools)


async def test_a_tool_error_quoting_a_credential_is_masked_for_the_llm_trace_and_queue(
        settings, caplog):
    token = "tok_live_51HxQ2eZvKYlo2C"

    async def warehouse_lookup(ctx: ToolContext, sku: str) -> dict:
        """Asks a warehouse whose gateway quotes the header it refused."""
        raise ToolError(f"gateway said 403 to Authorization: Bearer {token}")

    script = ScriptedLLM([{"tool_calls": [tool_call("warehouse_lookup", {"sku": "A1"})]},
                          final("Sorry, I cannot check stock now.",
                                handoff="warehouse lookup failed")])
    engine = escalating_engine(settings, warehouse_lookup, script)
    try:
        outcome = await engine.submit(Request(SLOW_TEXT, customer_id=1))
    finally:
        await engine.close()
    assert outcome.escalation_reason is EscalationReason.TOOL_FAILED
    said = "gateway said 403 to Authorization: Bearer ***"
    span = next(s for s in outcome.spans if s.name == "tool:warehouse_lookup")
    assert span.error == said
    told = json.loads(script.requests[1]["messages"][-1]["content"])
    assert told == {"error": said}  # the model hears what failed, not the credential
    assert token not in json.dumps(script.requests)
    stored = stored_texts(settings)
    assert said in stored["escalations.context"][0] and said in stored["spans.error"]
    assert not [v for values in stored.values() for v in values if token in v]
    assert_written_nowhere(token, settings.data_dir)
    assert token not in caplog.text


async def test_an_unexpected_exception_quoting_a_credential_is_masked_in_the_escalation(
        settings):
    password = "correct-horse-battery-staple"

    async def warehouse_lookup(ctx: ToolContext, sku: str) -> dict:
        """Asks a warehouse through a driver that fails in a way nobody planned for."""
        raise RuntimeError(f"driver failed: dsn password={password} rejected")

    script = ScriptedLLM([{"tool_calls": [tool_call("warehouse_lookup", {"sku": "A1"})]}])
    engine = escalating_engine(settings, warehouse_lookup, script)
    try:
        outcome = await engine.submit(Request(SLOW_TEXT, customer_id=1))
    finally:
        await engine.close()
    # A bug goes to a human with what went wrong, and without the password.
    assert outcome.escalation_reason is EscalationReason.INTERNAL_ERROR
    assert outcome.errors == [
        "internal error: RuntimeError: driver failed: dsn password=*** rejected"]
    failed = {s.name: s.error for s in outcome.spans if s.error}
    assert failed["tool:warehouse_lookup"] == (
        "RuntimeError: driver failed: dsn password=*** rejected")
    stored = stored_texts(settings)
    assert stored["escalations.context"] and stored["spans.error"]
    assert not [v for values in stored.values() for v in values if password in v]
    assert_written_nowhere(password, settings.data_dir)
