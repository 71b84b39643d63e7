"""What a server's tools/call result becomes for the agent: the lookups tell "no such
order" from a failing backend, and a policy's refusal from an error."""

from __future__ import annotations

import pytest

from agentcore.errors import RecordNotFound, ToolError, WriteRefused
from agentcore.tool_servers._adapter import result_of
from agentcore.tool_servers._connection import CallResult


def test_a_not_found_answer_is_a_definite_answer_not_a_failure():
    with pytest.raises(RecordNotFound, match="order 12345 does not exist"):
        result_of("get_order", CallResult(True, "order 12345 does not exist",
                                          {"not_found": True}))
    with pytest.raises(ToolError) as failed:
        result_of("get_order", CallResult(True, "database is locked", None))
    assert not isinstance(failed.value, RecordNotFound)


def test_a_refusal_carries_its_offer_and_data_is_data():
    with pytest.raises(WriteRefused) as refused:
        result_of("refund", CallResult(True, "over policy", {
            "refused": True, "limits": {"allowed_cents": 500}, "offer": {"amount": 5}}))
    assert refused.value.offer == {"amount": 5} and refused.value.limits == {
        "allowed_cents": 500}
    assert result_of("get_order", CallResult(False, "", {"id": 1})) == {"id": 1}
    assert result_of("note", CallResult(False, '{"ok": true}', None)) == {"ok": True}
    assert result_of("note", CallResult(False, "saved", None)) == {"text": "saved"}
