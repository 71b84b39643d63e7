"""The Settings dialog's tool servers without Qt (`console.tool_servers_model`): what an
editor's draft becomes in the settings, where its secrets go, the operator's marks
on tools, the Test's bounds, the status bar's words for each server."""

from __future__ import annotations

import asyncio
import json

from agentcore import ServerReport, ServerState, Settings, ToolInfo, ToolServerConfig
from console.tool_servers_model import (
    Draft,
    Policy,
    Row,
    ServerStates,
    ServerTest,
    TestState,
    badge,
    build,
    policy_of,
    set_kind,
    set_policy,
    set_public,
    tool_rows,
)

TOKEN = "Bearer 7f3a9c1e5b"


def http_draft(*headers: Row) -> Draft:
    return Draft(name="crm", transport="http", url="http://127.0.0.1:8765/mcp",
                 headers=list(headers))


def tool(name: str, *, writes: bool, kind_from: str = "annotations",
         usable: bool = True, problems: tuple[str, ...] = ()) -> ToolInfo:
    return ToolInfo(llm_name=f"crm__{name}", source="crm", name=name,
                    description=f"{name} things", writes=writes, kind_from=kind_from,
                    policy=None, usable=usable, problems=problems)


def test_a_secret_header_is_a_keyring_reference_and_its_value_waits_for_the_keyring():
    built = build(http_draft(Row("Authorization", TOKEN, secret=True)))
    assert built.config is not None and not built.errors
    assert built.config.headers == {"Authorization": "keyring:tool-server:crm:Authorization"}
    assert built.secrets == {"tool-server:crm:Authorization": TOKEN}
    saved = Settings(tool_servers=[built.config]).model_dump_json()
    assert TOKEN not in saved  # the settings file can never hold it


def test_a_plaintext_secret_is_refused_beside_its_row_in_words():
    built = build(http_draft(Row("X-Trace", "on"), Row("Authorization", TOKEN)))
    assert built.config is None
    assert set(built.errors) == {"headers.1"}
    assert "holds a secret" in built.errors["headers.1"]
    assert "keyring" in built.errors["headers.1"] and "Secret" in built.errors["headers.1"]


def test_a_stored_secret_is_kept_when_left_empty_and_a_new_one_must_be_typed():
    stored = ToolServerConfig(name="crm", command="crm-mcp",
                              env={"CRM_TOKEN": "keyring:tool-server:crm:CRM_TOKEN"})
    draft = Draft.of(stored)
    assert draft.env == [Row("CRM_TOKEN", "", True, "tool-server:crm:CRM_TOKEN")]
    again = build(draft)
    assert again.config == stored and again.secrets == {}
    draft.env.append(Row("API_KEY", "", secret=True))
    assert "type the secret" in build(draft).errors["env.1"]


def test_the_editor_keeps_what_it_does_not_show():
    config = ToolServerConfig(name="shop", command="python", args=["-m", "shop mcp"],
                              prefix="", replaces_domain_tools=True, public=["search_faq"],
                              timeout_s=3)
    assert build(Draft.of(config)).config == config  # the argument with a space stays one


def test_the_prefix_shown_is_the_one_kept_and_no_prefix_is_not_the_default():
    for prefix in (None, "", "desk_"):
        config = ToolServerConfig(name="crm", url="http://127.0.0.1:8765/mcp", prefix=prefix)
        draft = Draft.of(config)
        assert build(draft).config == config
        assert draft.tool_prefix() == config.tool_prefix
    draft = http_draft()
    assert draft.tool_prefix() == "crm__"  # empty: the server's name, as ever
    draft.prefix = "desk crm_"
    assert "letters, digits" in build(draft).errors["prefix"]
    draft.prefix = "desk_"
    built = build(draft).config
    assert built is not None and built.tool_prefix == "desk_"
    assert tool_rows(draft, ServerReport("crm", "http", ServerState.READY, tools=(
        tool("lookup", writes=False),)))[0].llm_name == "crm__lookup"  # as it was tested
    set_kind(draft, "refund", "write")  # known only by its mark: named as it will be
    assert {r.tool: r.llm_name for r in tool_rows(draft, None)}["refund"] == "desk_refund"
    draft.no_prefix = True
    built = build(draft).config
    assert built is not None and built.tool_prefix == ""


def test_a_working_folder_must_be_a_whole_path_to_a_folder_that_exists(tmp_path):
    draft = Draft(name="crm", command="crm-mcp", cwd="crm")
    assert "the whole path" in build(draft).errors["cwd"]
    draft.cwd = str(tmp_path / "gone")
    assert "no folder" in build(draft).errors["cwd"]
    draft.cwd = f" {tmp_path} "
    config = build(draft).config
    assert config is not None and config.cwd == str(tmp_path)
    draft.transport, draft.url = "http", "http://127.0.0.1:8765/mcp"
    config = build(draft).config  # a URL's server starts nowhere: the folder is dropped
    assert config is not None and config.cwd is None


def test_a_public_read_is_offered_without_a_customer_and_a_write_never_is():
    report = ServerReport("crm", "http", ServerState.READY, tools=(
        tool("opening_hours", writes=False), tool("refund", writes=True)))
    draft = http_draft()
    set_public(draft, "opening_hours", True)
    set_public(draft, "opening_hours", True)  # twice is once
    rows = {r.tool: r for r in tool_rows(draft, report)}
    assert rows["opening_hours"].public and "without a customer" in rows["opening_hours"].policy
    assert not rows["refund"].public
    config = build(draft).config
    assert config is not None and config.public == ["opening_hours"]
    set_kind(draft, "opening_hours", "write")  # the operator: it writes after all
    assert draft.public == []
    assert not {r.tool: r for r in tool_rows(draft, report)}["opening_hours"].public


def test_a_bad_name_and_a_missing_command_are_said_beside_their_fields():
    errors = build(Draft(name="My CRM")).errors
    assert "a-z first" in errors["name"]
    assert "program to start" in errors["command"]
    assert build(Draft(name="crm", transport="http", url="ftp://x")).errors["url"]
    slow = build(Draft(name="crm", command="crm-mcp", timeout_s="0", start_timeout_s="soon"))
    assert slow.errors["timeout_s"] == "seconds, more than 0 and at most 600"
    assert slow.errors["start_timeout_s"] == "seconds, a number like 10"


def test_marks_and_policies_reach_the_config_and_are_validated_by_write_policy():
    draft = http_draft()
    set_kind(draft, "lookup", "write")
    assert set_policy(draft, "lookup", Policy.LIMITS, '{"amount": {"max": 50}}') == ""
    assert "not JSON" in set_policy(draft, "refund", Policy.LIMITS, '{"amount": ')
    assert "mx" in set_policy(draft, "refund", Policy.LIMITS, '{"amount": {"mx": 5}}')
    assert "in words" in set_policy(draft, "close", Policy.SERVER, "  ")
    assert set_policy(draft, "close", Policy.SERVER, "only closed tickets") == ""
    config = build(draft).config
    assert config is not None and config.kinds == {"lookup": "write"}
    assert config.policy_of("lookup").limits["amount"].max == 50
    assert config.policy_of("close").server_policy == "only closed tickets"
    assert config.policy_of("refund").ask  # refused twice: still asks
    assert policy_of(draft, "lookup") == (Policy.LIMITS, json.dumps({"amount": {"max": 50}}))
    set_policy(draft, "close", Policy.ASK, "")
    assert "close" not in draft.writes  # "ask" is the default: no entry left behind


def test_the_test_table_shows_the_operators_word_over_the_annotations():
    report = ServerReport("crm", "http", ServerState.READY, tools=(
        tool("lookup", writes=False),
        tool("refund", writes=True),
        tool("mystery", writes=True, kind_from="unknown: a write", usable=False,
             problems=("'$ref' to a remote schema",))))
    draft = http_draft()
    set_kind(draft, "lookup", "write")
    rows = {r.tool: r for r in tool_rows(draft, report)}
    assert rows["lookup"].writes and rows["lookup"].why == "operator"
    assert rows["lookup"].policy.startswith("asks")  # a write with no policy asks
    assert rows["refund"].why == "annotations" and rows["refund"].llm_name == "crm__refund"
    assert not rows["mystery"].usable and rows["mystery"].problems
    draft.allow = "lookup"
    assert [r.tool for r in tool_rows(draft, report) if r.offered] == ["lookup"]


def test_a_hanging_server_gives_no_answer_within_its_bound_and_cancel_stops_the_wait():
    async def hang(_config: ToolServerConfig, _secret: object) -> ServerReport:
        await asyncio.Event().wait()
        raise AssertionError("never")

    async def scenario() -> tuple[ServerTest, ServerTest]:
        config = ToolServerConfig(name="slow", command="x", start_timeout_s=0.05)
        timed = ServerTest(hang, lambda _e: None)
        await asyncio.gather(timed.start(config), return_exceptions=True)
        cancelled = ServerTest(hang, lambda _e: None)
        task = cancelled.start(config)
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return timed, cancelled

    import console.tool_servers_model as model

    margin, model._MARGIN_S = model._MARGIN_S, 0.0  # the bound is the server's own, here
    try:
        timed, cancelled = asyncio.run(scenario())
    finally:
        model._MARGIN_S = margin
    assert timed.state is TestState.NO_ANSWER and timed.message == "no answer within 0.05 s"
    assert cancelled.state is TestState.CANCELLED and cancelled.report is None


def test_a_test_reads_secrets_typed_before_the_keyring_ones():
    seen: list[str | None] = []

    async def tester(config: ToolServerConfig, secret) -> ServerReport:
        seen.extend(secret(e) for e in config.secrets())
        return ServerReport(config.name, config.transport, ServerState.READY)

    config = ToolServerConfig(name="crm", url="http://127.0.0.1:1/mcp", headers={
        "Authorization": "keyring:new", "X-Api-Key": "keyring:old"})
    test = ServerTest(tester, {"old": "from-keyring"}.get)

    async def scenario() -> None:
        await test.start(config, {"new": "typed"})

    asyncio.run(scenario())
    assert seen == ["typed", "from-keyring"]
    assert test.state is TestState.DONE and test.message == "connected: 0 tools"


def test_each_servers_badge_says_its_state_and_the_tooltip_why_and_since_when():
    ready = ServerReport("shop", "stdio", ServerState.READY, since=1000.0,
                         tools=tuple(tool(f"t{i}", writes=False) for i in range(8)))
    failed = ServerReport("crm", "http", ServerState.FAILED, since=1000.0,
                          detail="no answer within 15 s to start")
    assert badge(ready, 1030.0).text == "shop ● ready (8)"
    shown = badge(failed, 1000.0 + 125)
    assert shown.text == "crm ● failed"
    assert "no answer within 15 s" in shown.tooltip and "2 min ago" in shown.tooltip
    held = badge(ServerReport("shop", "stdio", ServerState.READY, since=1000.0,
                              breaker="breaker open: 5 calls in a row unanswered",
                              breaker_since=1020.0), 1030.0)
    assert held.text == "shop ● breaker open" and held.held_back
    assert "5 calls in a row unanswered (since" in held.tooltip
    reports = [ready]
    states = ServerStates(lambda: list(reports))
    changes: list[int] = []
    states.on_change.append(lambda: changes.append(len(states.by_name)))
    states.update(ServerReport("shop", "stdio", ServerState.RECONNECTING))
    assert [b.text for b in states.badges()] == ["shop ● reconnecting"]
    reports.clear()
    states.reload()  # the server was removed from the settings
    assert states.badges() == [] and changes == [1, 0]
