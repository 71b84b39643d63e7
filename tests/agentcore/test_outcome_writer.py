"""The outcome writer under hostile model output: an outcome the engine returned is on
disk, and one bad outcome never stops the ones after it from being written."""

from __future__ import annotations

import json

import pytest

from agentcore.models import Request, Status
from tests.agentcore.scripted_llm import final, tool_call

SLOW_TEXT = "my app keeps crashing and nothing helps"  # matches no rule: the slow path


@pytest.fixture
def settings(settings):
    settings.llm.classify = None  # one decide stage keeps the script exact
    return settings


def raw_reply(message: dict) -> bytes:
    """A chat completion as an endpoint sends it: JSON, its escapes as written (json.dumps
    escapes a lone surrogate as \\ud800, which is valid JSON)."""
    return json.dumps({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", **message},
                     "finish_reason": "tool_calls" if "tool_calls" in message else "stop"}],
        "usage": {"prompt_tokens": 500, "completion_tokens": 50, "total_tokens": 550}}
    ).encode()


async def test_a_lone_surrogate_in_a_tool_name_does_not_stop_the_outcome_writer(desk):
    """A model's JSON may escape a lone surrogate anywhere, in a tool's name too: the
    call's span records the names the model called. That outcome, and every one after
    it, reach the disk."""
    desk.script.steps.append(raw_reply(
        {"content": None, "tool_calls": [tool_call("get_order\ud800", {"order_id": 1})]}))
    first = await desk.engine.submit(Request(SLOW_TEXT, customer_id=1))
    assert first.status is Status.ESCALATED
    desk.script.steps.append(final("Try restarting it.", intent="other"))
    second = await desk.engine.submit(Request(SLOW_TEXT + " at all", customer_id=1))
    assert second.status is Status.ANSWERED

    requests = desk.engine.store.requests
    assert requests.status(first.request_id) == "escalated"
    assert requests.status(second.request_id) == "answered"
    assert desk.queue.of_request(first.request_id) is not None
