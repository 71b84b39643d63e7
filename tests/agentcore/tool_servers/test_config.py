"""What an operator writes for a tool server, as the agent reads it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agentcore.tool_servers import ToolServerConfig


def test_entries_written_with_the_llms_name_apply_to_the_servers_tool():
    # `agentcore tools` shows 'desk__refund'; an operator copying that name must not
    # get a policy that silently matches nothing.
    config = ToolServerConfig.model_validate({
        "name": "desk", "command": "desk-server", "allow": ["desk__search", "refund"],
        "kinds": {"desk__note": "read"}, "public": ["desk__search"],
        "writes": {"desk__refund": {"limits": {"amount": {"max": 50}}}}})
    assert config.allow == ["search", "refund"]
    assert config.kinds == {"note": "read"}
    assert config.public == ["search"]
    assert config.policy_of("refund").describe() != config.policy_of("note").describe()


def test_a_custom_prefix_is_the_one_taken_off():
    config = ToolServerConfig.model_validate({
        "name": "desk", "command": "desk-server", "prefix": "kb_",
        "kinds": {"kb_lookup": "read", "desk__lookup": "write"}})
    assert config.kinds == {"lookup": "read", "desk__lookup": "write"}


@pytest.mark.parametrize("url", ["https://tools.example.com/mcp?api_key=sk-123",
                                 "http://127.0.0.1:9000/mcp?x=1&token=abc"])
def test_a_secret_in_the_urls_query_is_refused(url):
    with pytest.raises(ValidationError) as raised:
        ToolServerConfig(name="remote", url=url)
    message = str(raised.value)
    assert "holds a secret" in message and "keyring" in message
    assert "sk-123" not in message and "=abc" not in message  # the error is shown and logged


def test_a_plain_query_is_kept():
    config = ToolServerConfig(name="remote", url="http://127.0.0.1:9000/mcp?tenant=acme")
    assert config.url == "http://127.0.0.1:9000/mcp?tenant=acme"


@pytest.mark.parametrize(("value", "runs"), [(1, True), (True, False), ("1", False),
                                             (2, False), (1.0, True)])
def test_one_of_takes_the_values_named_and_no_flag_for_a_number(value, runs):
    from agentcore.errors import WriteRefused
    from agentcore.tool_servers._adapter import _hold_to
    from agentcore.tool_servers._config import ArgumentLimit

    limits = {"plan": ArgumentLimit(one_of=[1, 3])}
    if runs:
        _hold_to("desk__switch_plan", limits, {"plan": value})
    else:
        with pytest.raises(WriteRefused, match="is not one of 1, 3"):
            _hold_to("desk__switch_plan", limits, {"plan": value})
