"""The domain seam: choosing a domain, what the demo shop declares, and the promise
that a write without a policy of its own never runs on the model's say-so."""

from __future__ import annotations

import sys
import textwrap
from typing import Annotated, Any

import pytest
from pydantic import Field

from agentcore import Engine, EscalationReason, Request, SettingsError
from agentcore.demo_shop import DemoShop
from agentcore.demo_shop.tools import READ_TOOLS, WRITE_TOOLS, shop_registry
from agentcore.domain import Domain, installed_domains, load_domain, resolve_factory
from agentcore.escalations import PendingStatus
from agentcore.tools import Tool, ToolContext, ToolRegistry
from tests.agentcore.scripted_llm import ScriptedLLM, final, tool_call


@pytest.fixture
def settings(settings):
    settings.llm.classify = None  # one decide stage keeps the scripts exact
    return settings


def test_the_demo_shop_is_the_default_domain_and_is_installed(settings):
    domain = load_domain(settings)
    try:
        assert isinstance(domain, DemoShop) and isinstance(domain, Domain)
        assert installed_domains()["demo_shop"] == "agentcore.demo_shop:create"
        assert resolve_factory("demo_shop") is resolve_factory("agentcore.demo_shop:create")
    finally:
        domain.close()


def test_every_read_of_the_demo_shop_names_its_cache_tags_and_every_write_a_policy(settings):
    domain = DemoShop(settings)
    try:
        assert set(domain.cache_tags.read_tools) == set(READ_TOOLS)
        for name in WRITE_TOOLS:
            assert domain.tools.get(name).policy, name
        assert not set(domain.cache_tags.read_tools) & set(WRITE_TOOLS)
        assert domain.intents[-1] == "other"  # the keyword classifier's catch-all
        assert (domain.resources / "rules.yaml").is_file()
    finally:
        domain.close()


@pytest.mark.parametrize(("spec", "complaint"), [
    ("no_such_module:create", "cannot import no_such_module"),
    ("agentcore.demo_shop:nothing_here", "has no callable 'nothing_here'"),
    ("library", "no domain named 'library' .installed: demo_shop"),
])
def test_a_domain_that_cannot_be_had_says_why(settings, spec, complaint):
    settings.domain = spec
    with pytest.raises(SettingsError, match=complaint):
        load_domain(settings)


def test_a_factory_that_builds_something_else_is_refused(settings, tmp_path, monkeypatch):
    (tmp_path / "not_a_world.py").write_text(textwrap.dedent("""
        def create(settings):
            return object()
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.domain = "not_a_world:create"
    with pytest.raises(SettingsError,
                       match=r"lacks at_stake, cache_tags, change_log, close, .*, "
                             r"watch, write_limits of"):
        load_domain(settings)
    sys.modules.pop("not_a_world", None)


# -- a write without a policy --------------------------------------------------------

def gift_note_engine(settings, script: ScriptedLLM) -> tuple[Engine, list[dict[str, Any]]]:
    """The shop plus a write tool that declares no policy: it must wait for a human."""
    written: list[dict[str, Any]] = []
    domain = DemoShop(settings)

    async def add_gift_note(ctx: ToolContext, order_id: Annotated[int, Field(ge=10000)],
                            note: Annotated[str, Field(max_length=200)]) -> dict[str, Any]:
        """Prints a note on the order's packing slip."""
        written.append({"request": ctx.request_id, "order_id": order_id, "note": note})
        return {"order_id": order_id, "note": note, "status": "added"}

    shop_tools = shop_registry(domain.shop)
    tools = ToolRegistry([*(shop_tools.get(n) for n in shop_tools.names),
                          Tool.from_function(add_gift_note, writes=True)])
    return Engine(settings, openai_client=script.client(), domain=domain, tools=tools), written


async def test_a_write_without_a_policy_waits_for_an_operator_then_runs_once(settings):
    script = ScriptedLLM([
        {"tool_calls": [tool_call("add_gift_note", {"order_id": 12345, "note": "Happy day"})]},
        final("Done.", intent="other")])
    engine, written = gift_note_engine(settings, script)
    try:
        outcome = await engine.submit(Request("please add a gift note to my order 12345",
                                              customer_id=7))
        assert outcome.escalation_reason is EscalationReason.POLICY_VIOLATION
        assert written == []  # the model asked; nothing ran
        assert outcome.pending_action is not None
        assert outcome.pending_action.tool == "add_gift_note"
        assert outcome.pending_action.arguments == {"order_id": 12345, "note": "Happy day"}
        assert any("no policy of its own" in e for e in outcome.errors)

        queue = engine.escalations
        [item] = await queue.list()
        await queue.claim(item.id, "alice", lease_s=300)
        result = await queue.approve(item.id, "alice")
        assert result["status"] == "added"
        assert written == [{"request": outcome.request_id, "order_id": 12345,
                            "note": "Happy day"}]
        shown = await queue.get(item.id)
        assert shown.pending_status is PendingStatus.APPROVED
        again = await queue.approve(item.id, "alice")  # a second keystroke: the first result
        assert again["replayed"] is True and len(written) == 1
    finally:
        await engine.close()


async def test_a_committed_write_is_announced_on_the_engines_bus(settings):
    """One event channel: the domain's change notifications reach subscribers as
    DataChanged, after the write committed, naming what it touched."""
    from agentcore.events import DataChanged
    from tests.agentcore.test_agent_loop import refundable_order

    order = refundable_order(settings)
    script = ScriptedLLM([
        {"tool_calls": [tool_call("issue_refund", {"order_id": order["id"], "amount": 1.0,
                                                   "reason": "scratched"})]},
        final("Refunded $1.00.", intent="refund_request")])
    engine = Engine(settings, openai_client=script.client())
    heard: list[DataChanged] = []
    engine.subscribe(lambda e: heard.append(e) if isinstance(e, DataChanged) else None)
    try:
        await engine.submit(Request(f"refund $1 on order {order['id']}",
                                    customer_id=order["customer_id"]))
    finally:
        await engine.close()
    assert [set(e.tags) for e in heard] == [{f"order:{order['id']}",
                                             f"customer:{order['customer_id']}"}]


@pytest.mark.parametrize(("source", "complaint"), [
    ("raise RuntimeError('no backend configured')", "no backend configured"),
    ("def create(settings)\n", "SyntaxError"),
    ("def create(settings):\n    raise KeyError('SHOP_URL')\n", "SHOP_URL"),
    ("def create():\n    return None\n", "create"),
])
def test_a_broken_domain_module_says_so_without_a_traceback(settings, tmp_path, monkeypatch,
                                                           source, complaint):
    """A user's domain that fails to import or to build is a setting to fix (which domain,
    and what it said), not a crash of agentcore's own."""
    (tmp_path / "broken_world.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.domain = "broken_world:create"
    try:
        with pytest.raises(SettingsError, match=complaint) as refused:
            load_domain(settings)
        assert "broken_world:create" in str(refused.value)
    finally:
        sys.modules.pop("broken_world", None)
