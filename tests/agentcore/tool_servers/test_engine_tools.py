"""A tool server's tools through the engine: real MCP servers (the official SDK, over
stdio), the scripted LLM through the openai SDK, the demo shop as the domain."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from agentcore import Engine, EscalationReason, Request, Status, ToolServerChanged
from agentcore.errors import QueueError, WriteRefused
from agentcore.tool_servers import ToolServerConfig
from agentcore.tools import ToolContext
from tests.agentcore.scripted_llm import ScriptedLLM, final, tool_call
from tests.agentcore.tool_servers.conftest import HANG, PATIENCE_S, SERVERS

DESK = SERVERS / "desk_server.py"
SLOW_TEXT = "my app keeps crashing and nothing helps"  # no rule matches: the slow path
CUSTOMER = 1


def desk_config(log: Path, name: str = "desk", **overrides) -> ToolServerConfig:
    return ToolServerConfig(name=name, command=sys.executable, args=[str(DESK)],
                            env={"DESK_LOG": str(log)}, **overrides)


def actions(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def offered(request: dict) -> list[str]:
    return [t["function"]["name"] for t in request.get("tools") or ()]


def tool_messages(request: dict) -> list[dict]:
    return [json.loads(m["content"]) for m in request["messages"] if m["role"] == "tool"]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "desk.jsonl"


@pytest.fixture
async def engine_of(settings):
    made: list[Engine] = []

    def make(*servers: ToolServerConfig, steps: list | None = None) -> tuple[Engine, ScriptedLLM]:
        settings.tool_servers = list(servers)
        script = ScriptedLLM(steps or [])
        engine = Engine(settings, openai_client=script.client())
        made.append(engine)
        return engine, script

    yield make
    for engine in made:
        await engine.close()


async def ask(engine: Engine, text: str = SLOW_TEXT, customer: int | None = CUSTOMER):
    return await engine.submit(Request(text, customer_id=customer))


async def approve(engine: Engine, request_id: str, operator: str = "alice") -> dict:
    item = engine.escalations.of_request(request_id)
    assert item is not None
    await engine.escalations.claim(item, operator, lease_s=300)
    return await engine.escalations.approve(item, operator)


async def test_two_servers_tools_reach_the_llm_namespaced_and_a_read_is_answered(
        engine_of, log):
    engine, script = engine_of(desk_config(log, "a"), desk_config(log, "b"), steps=[
        {"tool_calls": [tool_call("b__search", {"query": "crash"})]},
        final("See the crash article.")])
    outcome = await ask(engine)
    assert outcome.status is Status.ANSWERED, outcome.errors
    assert outcome.answer == "See the crash article."
    names = offered(script.requests[0])
    assert {"a__search", "b__search", "a__refund", "b__refund"} <= set(names)
    assert "get_order" in names  # the domain's tools are still there
    assert tool_messages(script.requests[1]) == [{"hits": ["article about crash"]}]
    span = next(s for s in outcome.spans if s.name == "tool:b__search")
    assert span.attributes["server"] == "b"
    domain_spans = [s for s in outcome.spans if s.name.startswith("tool:")
                    and not s.name.startswith("tool:b__")]
    assert all("server" not in s.attributes for s in domain_spans)


async def test_a_write_without_a_policy_waits_for_an_operator_and_then_acts_once(
        engine_of, log):
    engine, _ = engine_of(desk_config(log), steps=[
        {"tool_calls": [tool_call("desk__refund", {"order": 7, "amount": 30})]}])
    outcome = await ask(engine)
    assert outcome.escalation_reason is EscalationReason.POLICY_VIOLATION
    assert outcome.pending_action is not None
    assert outcome.pending_action.tool == "desk__refund"
    assert outcome.pending_action.arguments == {"order": 7, "amount": 30}
    assert actions(log) == []  # the server was never called
    result = await approve(engine, outcome.request_id)
    assert result["refunded"] == 30
    (done,) = actions(log)
    assert done["key"].startswith(f"{outcome.request_id}:")  # this write of this request
    assert done["meta"]["request_id"] == outcome.request_id
    assert done["meta"]["approved"] is True
    assert done["meta"]["customer_id"] == CUSTOMER
    item = engine.escalations.of_request(outcome.request_id)
    again = await engine.escalations.approve(item, "alice")
    assert again.get("replayed") is True
    assert len(actions(log)) == 1  # the queue replayed its record: the server acted once


async def test_limits_let_a_write_inside_them_run_and_hold_one_outside(engine_of, log):
    config = desk_config(log, writes={"refund": {"limits": {"amount": {"max": 50}}}})
    engine, _ = engine_of(config, steps=[
        {"tool_calls": [tool_call("desk__refund", {"order": 7, "amount": 20})]},
        final("Refunded $20."),
        {"tool_calls": [tool_call("desk__refund", {"order": 8, "amount": 500})]}])
    inside = await ask(engine)
    assert inside.status is Status.ANSWERED, inside.errors
    assert [a["arguments"] for a in actions(log)] == [{"order": 7, "amount": 20}]
    outside = await ask(engine, "my app keeps crashing, refund me $500 on order 8")
    assert outside.escalation_reason is EscalationReason.POLICY_VIOLATION
    pending = outside.pending_action
    assert pending is not None and pending.arguments == {"order": 8, "amount": 500}
    assert pending.allowed == {"amount": {"max": 50}}
    assert pending.requested == {"order": 8, "amount": 500}
    assert len(actions(log)) == 1  # held before the server was called
    await approve(engine, outside.request_id)  # approved as asked: it runs
    assert actions(log)[-1]["arguments"] == {"order": 8, "amount": 500}


async def test_an_error_result_goes_back_to_the_model_as_the_tools_error(engine_of, log):
    engine, script = engine_of(desk_config(log), steps=[
        {"tool_calls": [tool_call("desk__broken", {"query": "wifi"})]},
        final("The knowledge base is down; I'll hand you over.",
              handoff="the knowledge base is down")])
    outcome = await ask(engine)
    (message,) = tool_messages(script.requests[1])
    assert "the knowledge base is down" in message["error"]
    assert outcome.escalation_reason is EscalationReason.TOOL_FAILED


async def test_a_tool_saying_nothing_of_itself_is_treated_as_a_write(engine_of, log):
    engine, _ = engine_of(desk_config(log), steps=[
        {"tool_calls": [tool_call("desk__note", {"text": "called about wifi"})]}])
    await engine.start()
    info = next(t for t in engine.tool_servers.catalog() if t.llm_name == "desk__note")
    assert info.writes and info.kind_from == "unknown: a write" and info.policy is None
    outcome = await ask(engine)
    assert outcome.escalation_reason is EscalationReason.POLICY_VIOLATION
    assert outcome.pending_action is not None
    assert actions(log) == []


async def test_a_changed_tool_list_is_offered_on_the_next_request(engine_of, log):
    engine, script = engine_of(desk_config(log), steps=[
        {"tool_calls": [tool_call("desk__grow", {"name": "fresh"})]}, final("Grown."),
        final("Hello.")])
    heard = asyncio.Event()
    engine.subscribe(lambda e: heard.set() if isinstance(e, ToolServerChanged) and any(
        t.name == "fresh" for t in e.report.tools) else None)
    await ask(engine)
    assert "desk__fresh" not in offered(script.requests[0])
    async with asyncio.timeout(PATIENCE_S):
        await heard.wait()
    await ask(engine)
    assert "desk__fresh" in offered(script.requests[2])


async def test_strict_rejected_schemas_are_cleaned_or_refused_with_why(engine_of, log):
    engine, script = engine_of(desk_config(log), steps=[
        # The cleaned schema makes the optional `limit` required and nullable: the
        # model sends null, and the server gets the call without it (its default).
        {"tool_calls": [tool_call("desk__lookup", {"query": "wifi", "limit": None})]},
        final("Found it.")])
    outcome = await ask(engine)
    assert outcome.status is Status.ANSWERED, outcome.errors
    lookup = next(t for t in script.requests[0]["tools"]
                  if t["function"]["name"] == "desk__lookup")["function"]["parameters"]
    assert lookup["required"] == ["query", "limit"]
    assert lookup["additionalProperties"] is False
    assert tool_messages(script.requests[1]) == [{"query": "wifi", "limit": 5}]
    assert "desk__tangled" not in offered(script.requests[0])
    tangled = next(t for t in engine.tool_servers.catalog() if t.llm_name == "desk__tangled")
    assert not tangled.offered and not tangled.usable
    assert any("$defs/Thing" in p for p in tangled.problems)


async def test_a_server_that_fails_to_start_leaves_the_domains_tools_answering(
        engine_of, log):
    hang = ToolServerConfig(name="hang", command=sys.executable, args=[str(HANG)],
                            start_timeout_s=1.0)
    engine, script = engine_of(hang, desk_config(log), steps=[
        {"tool_calls": [tool_call("desk__search", {"query": "crash"})]}, final("Answered.")])
    outcome = await ask(engine)
    assert outcome.status is Status.ANSWERED, outcome.errors
    names = offered(script.requests[0])
    assert "get_order" in names and "desk__search" in names
    assert not any(n.startswith("hang__") for n in names)
    (report,) = [r for r in engine.tool_servers.reports() if r.name == "hang"]
    assert str(report.state) == "failed" and report.detail


async def test_new_settings_restart_only_the_server_whose_config_changed(engine_of, log):
    engine, _ = engine_of(desk_config(log, "a"), desk_config(log, "b"))
    await engine.start()
    before = {r.name: r for r in engine.tool_servers.reports()}
    heard: list[str] = []
    engine.subscribe(lambda e: heard.append(e.report.name)
                     if isinstance(e, ToolServerChanged) else None)
    changed = engine.settings.model_copy(deep=True)
    changed.tool_servers = [desk_config(log, "a"), desk_config(log, "b", allow=["search"])]
    await engine.apply_settings(changed)
    b_ready = asyncio.Event()
    engine.subscribe(lambda e: b_ready.set() if isinstance(e, ToolServerChanged)
                     and e.report.name == "b" and str(e.report.state) == "ready" else None)
    async with asyncio.timeout(PATIENCE_S):
        await b_ready.wait()
    names = set(engine._tools.names)
    assert "b__search" in names and "b__refund" not in names
    assert "a__refund" in names
    assert set(heard) == {"b"}  # a kept its connection
    after = {r.name: r for r in engine.tool_servers.reports()}
    assert after["a"].since == before["a"].since
    changed = changed.model_copy(deep=True)
    changed.tool_servers = [desk_config(log, "a")]
    await engine.apply_settings(changed)
    assert not any(n.startswith("b__") for n in engine._tools.names)


async def test_two_servers_offering_one_name_offer_it_once_and_say_so(engine_of, log):
    engine, _ = engine_of(desk_config(log, "a", prefix=""), desk_config(log, "b", prefix=""))
    await engine.start()
    found = [t for t in engine.tool_servers.catalog() if t.llm_name == "search"]
    assert [(t.source, t.offered) for t in found] == [("a", True), ("b", False)]
    assert "tool server 'a' offers that name first" in found[1].problems
    assert engine._tools.server_of("search") == "a"


async def test_a_server_that_stops_answering_is_not_called_for_a_cool_down(settings):
    from agentcore import FakeClock
    from agentcore.errors import ToolServerError
    from agentcore.tools import ToolContext
    from tests.agentcore.tool_servers.conftest import ECHO

    clock = FakeClock()
    settings.resilience.breaker.failure_threshold = 2
    settings.tool_servers = [ToolServerConfig(name="echo", command=sys.executable,
                                              args=[str(ECHO)], timeout_s=0.5,
                                              kinds={"slow": "read", "echo": "read"})]
    engine = Engine(settings, openai_client=ScriptedLLM([]).client(), clock=clock)
    heard: list = []
    engine.subscribe(lambda e: heard.append(e.report) if isinstance(e, ToolServerChanged)
                     else None)
    try:
        await engine.start()
        ctx = ToolContext("r1", CUSTOMER)
        for _ in range(2):
            with pytest.raises(ToolServerError, match="timed out"):
                await engine._tools.call("echo__slow", {"seconds": 30}, ctx, 5)
        with pytest.raises(ToolServerError, match="failed 2 calls in a row"):
            await engine._tools.call("echo__echo", {"text": "hi"}, ctx, 5)
        # The status bar hears it: ready, yet held back.
        assert heard[-1].breaker.startswith("breaker open: 2 calls in a row")
        assert engine.tool_servers.report("echo").breaker == heard[-1].breaker
        clock.advance(settings.resilience.breaker.open_s)
        assert await engine._tools.call("echo__echo", {"text": "hi"}, ctx, 5) == {
            "result": "hi"}
        assert heard[-1].breaker == "" and engine.tool_servers.report("echo").breaker == ""
    finally:
        await engine.close()


async def test_a_write_over_streamable_http_waits_then_acts_once(engine_of, log, monkeypatch):
    from tests.agentcore.tool_servers.conftest import HttpServer, free_port

    monkeypatch.setenv("DESK_LOG", str(log))  # the server process inherits it
    http = HttpServer(DESK, free_port())
    http.start()
    try:
        engine, _ = engine_of(http.config(name="desk"), steps=[
            {"tool_calls": [tool_call("desk__refund", {"order": 3, "amount": 12.5})]}])
        outcome = await ask(engine)
        assert outcome.pending_action is not None
        assert outcome.pending_action.tool == "desk__refund"
        span = next(s for s in outcome.spans if s.name == "tool:desk__refund")
        assert span.attributes["server"] == "desk"
        await approve(engine, outcome.request_id)
        item = engine.escalations.of_request(outcome.request_id)
        await engine.escalations.approve(item, "alice")
        assert [(a["key"].split(":")[0], a["arguments"]) for a in actions(log)] == [
            (outcome.request_id, {"order": 3, "amount": 12.5})]
    finally:
        http.kill()


async def test_limits_bound_a_request_not_a_call(engine_of, log):
    # Three $40 refunds in one turn, each under a $50 limit: one runs, the rest wait.
    config = desk_config(log, writes={"refund": {"limits": {"amount": {"max": 50}}}})
    engine, _ = engine_of(config, steps=[
        {"tool_calls": [tool_call("desk__refund", {"order": n, "amount": 40}, f"c{n}")
                        for n in (1, 2, 3)]}])
    outcome = await ask(engine, "my app keeps crashing, refund me $120")
    assert [a["arguments"]["amount"] for a in actions(log)] == [40]
    assert outcome.escalation_reason is EscalationReason.POLICY_VIOLATION
    pending = outcome.pending_action
    assert pending is not None and pending.arguments["order"] in (2, 3)
    # Approved, the operator's refund is done: its key is its own (this write of this
    # request), not the first refund's, which a server honouring keys would replay.
    await approve(engine, outcome.request_id)
    assert [a["arguments"] for a in actions(log)] == [
        {"order": 1, "amount": 40}, pending.arguments]
    keys = [a["key"] for a in actions(log)]
    assert len(set(keys)) == 2 and all(k.startswith(f"{outcome.request_id}:") for k in keys)


async def test_a_nan_amount_is_refused_before_any_limit(engine_of, log):
    config = desk_config(log, writes={"refund": {"limits": {"amount": {"max": 50}}}})
    engine, script = engine_of(config, steps=[
        {"tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "desk__refund", "arguments": '{"order": 7, "amount": NaN}'}}]},
        final("I could not do that.")])
    await ask(engine)
    assert actions(log) == []
    (message,) = tool_messages(script.requests[1])
    assert "NaN is not a JSON number" in message["error"]


# -- a review: servers that change their story ----------------------------------

TURNCOAT = SERVERS / "turncoat_server.py"


def turncoat(log: Path, **overrides) -> ToolServerConfig:
    return ToolServerConfig(name="tc", command=sys.executable, args=[str(TURNCOAT)],
                            env={"DESK_LOG": str(log)}, **overrides)


async def listed_again(engine, tool: str, condition) -> None:
    heard = asyncio.Event()
    engine.subscribe(lambda e: heard.set() if isinstance(e, ToolServerChanged) and any(
        t.name == tool and condition(t) for t in e.report.tools) else None)
    async with asyncio.timeout(PATIENCE_S):
        await heard.wait()


async def test_a_write_relisted_as_a_read_still_waits_for_an_operator(engine_of, log):
    engine, _ = engine_of(turncoat(log), steps=[
        {"tool_calls": [tool_call("tc__refund", {"order": 7, "amount": 900})]}])
    await engine.start()
    info = next(t for t in engine.tool_servers.catalog() if t.llm_name == "tc__refund")
    assert info.writes  # what the operator's Test showed
    await engine._tools.call("tc__flip", {}, ToolContext("r-flip", 1), 10)
    await listed_again(engine, "refund", lambda t: True)
    outcome = await ask(engine)
    assert outcome.escalation_reason is EscalationReason.POLICY_VIOLATION, outcome.errors
    assert actions(log) == []  # the server's new word did not make it run alone


async def test_an_approval_is_not_run_by_a_tool_the_server_changed_since(engine_of, log):
    engine, _ = engine_of(turncoat(log), steps=[
        {"tool_calls": [tool_call("tc__refund", {"order": 7, "amount": 30})]}])
    outcome = await ask(engine)
    assert outcome.pending_action is not None
    await engine._tools.call("tc__morph", {}, ToolContext("r-morph", 1), 10)
    await listed_again(engine, "refund", lambda t: "close" in t.description)
    with pytest.raises(QueueError, match="changed on its tool server"):
        await approve(engine, outcome.request_id)
    assert actions(log) == []  # the operator approved a refund, not a refund-and-close


async def test_a_server_replacing_a_domain_write_cannot_call_it_a_read(engine_of, log):
    engine, _ = engine_of(turncoat(log, prefix="", replaces_domain_tools=True), steps=[
        {"tool_calls": [tool_call("issue_refund", {"order_id": 7, "amount": 900})]}])
    outcome = await ask(engine)
    assert outcome.escalation_reason is EscalationReason.POLICY_VIOLATION, outcome.errors
    assert actions(log) == []


async def test_a_relisting_does_not_give_a_limited_write_a_second_run(engine_of, log):
    config = turncoat(log, writes={"refund": {"limits": {"amount": {"max": 50}}}})
    engine, _ = engine_of(config)
    await engine.start()
    ctx = ToolContext("r-twice", 1)
    await engine._tools.call("tc__refund", {"order": 7, "amount": 40}, ctx, 10)
    # Any re-listing (a change announced, a reconnect) adapts the tools again.
    await engine._tools.call("tc__flip", {}, ctx, 10)
    await listed_again(engine, "refund", lambda t: True)
    with pytest.raises(WriteRefused):
        await engine._tools.call("tc__refund", {"order": 7, "amount": 40}, ctx, 10)
    assert len(actions(log)) == 1  # $40 once, not $80 under a $50 limit


@pytest.mark.parametrize("amount", ["-1e309", "1e309"])
async def test_a_number_too_big_for_a_float_is_refused_before_any_limit(engine_of, log, amount):
    # Python reads 1e309 as infinity: -1e309 is below every max, and passed a $50 limit.
    config = desk_config(log, writes={"refund": {"limits": {"amount": {"max": 50}}}})
    engine, script = engine_of(config, steps=[
        {"tool_calls": [tool_call("desk__refund", f'{{"order": 7, "amount": {amount}}}')]},
        final("I could not do that.")])
    await ask(engine)
    assert actions(log) == []
    (message,) = tool_messages(script.requests[1])
    assert "too large" in message["error"]


async def test_a_huge_whole_number_over_a_limit_waits_for_an_operator(engine_of, log):
    config = desk_config(log, writes={"refund": {"limits": {"amount": {"max": 50}}}})
    engine, _ = engine_of(config, steps=[
        {"tool_calls": [tool_call("desk__refund", '{"order": 7, "amount": 1' + "0" * 400 + "}")]}])
    outcome = await ask(engine)
    assert outcome.escalation_reason is EscalationReason.POLICY_VIOLATION, outcome.errors
    assert actions(log) == []


class _Keyring:
    def __init__(self, entries: dict[str, str]) -> None:
        self.entries = entries

    def get(self, name: str) -> str | None:
        return self.entries.get(name)


async def test_a_servers_error_quoting_its_keyring_secret_reaches_nobody(settings):
    secret = "s3cret-value-987"
    settings.tool_servers = [ToolServerConfig(
        name="echo", command=sys.executable, args=[str(SERVERS / "echo_server.py")],
        env={"SHOP_TOKEN": "keyring:shop-token"}, kinds={"fail": "read"})]
    script = ScriptedLLM([
        {"tool_calls": [tool_call("echo__fail", {"message": f"token {secret} refused"})]},
        final("The shop refused; I'll hand you over.", handoff="the shop refused")])
    engine = Engine(settings, openai_client=script.client(),
                    credentials=_Keyring({"shop-token": secret}))  # type: ignore[arg-type]
    try:
        outcome = await ask(engine)
    finally:
        await engine.close()
    (message,) = tool_messages(script.requests[1])
    assert "refused" in message["error"]
    assert secret not in message["error"]
    assert not [s.error for s in outcome.spans if s.error and secret in s.error]
    assert not [e for e in outcome.errors if secret in e]


async def test_a_servers_answer_quoting_its_keyring_secret_reaches_nobody(settings):
    secret = "s3cret-value-654"
    settings.tool_servers = [ToolServerConfig(
        name="echo", command=sys.executable, args=[str(SERVERS / "echo_server.py")],
        env={"SHOP_TOKEN": "keyring:shop-token"}, kinds={"echo": "read"})]
    script = ScriptedLLM([
        {"tool_calls": [tool_call("echo__echo", {"text": f"signed in with {secret}"})]},
        final("Done.")])
    engine = Engine(settings, openai_client=script.client(),
                    credentials=_Keyring({"shop-token": secret}))  # type: ignore[arg-type]
    try:
        outcome = await ask(engine)
    finally:
        await engine.close()
    (message,) = tool_messages(script.requests[1])
    assert "signed in with" in json.dumps(message)
    assert secret not in json.dumps(message)
    # (The scripted model's own arguments carry it here; a real model never saw it.)
    assert not [s for s in outcome.spans if secret in str(s.error) + json.dumps(
        {k: v for k, v in s.attributes.items() if k != "arguments"}, default=str)]
