"""One exception tree: a caller finds every exception agentcore raises in `agentcore.errors`."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import socket

import openai
import pytest

import agentcore
import agentcore.errors as errors
from agentcore.errors import LLMError, LLMErrorKind
from agentcore.llm import LLMClient
from agentcore.settings import StageModel
from tests.agentcore.scripted_llm import ScriptedLLM

STAGE = StageModel(model="gpt-4o", input_per_mtok=2.5, output_per_mtok=10.0)
MESSAGES = [{"role": "user", "content": "hello"}]

INTENDED = {
    "AgentError", "UserFacingError", "SettingsError", "RuleError", "PatternError",
    "EmptyRuleSetError", "DuplicateRequest", "QueueError", "StorageError", "LLMError",
    "BreakerOpenError", "ThrottledError", "MalformedOutput", "ToolError", "RecordNotFound",
    "WriteRefused", "ToolArgumentsError", "UnknownToolError", "NoDeterministicAnswer",
    "NeedsCustomer", "BacktestCancelled", "MissingKeyError", "LearnedModelError",
    "ToolServerError",
    "ChatwootError", "DatabaseUnreachable", "Undeliverable", "IdempotencyKeyReused",
    "IntakeUnreachable", "RulesChangedError",
}


def _agentcore_modules() -> list[str]:
    # `__main__` runs the CLI when imported; every other module must import cleanly.
    return [info.name for info in pkgutil.walk_packages(agentcore.__path__, "agentcore.")
            if not info.name.endswith(".__main__")]


def test_errors_exports_exactly_the_exception_tree():
    exceptions = {name for name, value in vars(errors).items()
                  if inspect.isclass(value) and issubclass(value, BaseException)}
    assert exceptions == INTENDED
    # The non-exceptions: what an LLMError's `kind` and `cause` can be.
    assert sorted(errors.__all__) == sorted(INTENDED | {"LLMErrorKind", "LLMCause"})
    assert all(issubclass(getattr(errors, name), errors.AgentError) for name in INTENDED)


def test_every_public_exception_of_agentcore_is_defined_in_errors():
    modules = _agentcore_modules()
    assert len(modules) > 40  # the walk reached the subpackages, not just the top
    elsewhere = []
    for name in modules:
        if name == "agentcore.errors":
            continue
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, Exception)
                    and value.__module__ == name and not attr.startswith("_")):
                elsewhere.append(f"{name}.{attr}")
    assert elsewhere == []


@pytest.mark.parametrize(("step", "kind"), [
    (401, LLMErrorKind.AUTH), (403, LLMErrorKind.AUTH), (404, LLMErrorKind.NOT_FOUND),
    (429, LLMErrorKind.RATE_LIMITED), (500, LLMErrorKind.SERVER), (503, LLMErrorKind.SERVER),
    (400, LLMErrorKind.BAD_REQUEST), (422, LLMErrorKind.BAD_REQUEST),
    (b'{"id": "x", "choices": []}', LLMErrorKind.MALFORMED),
])
async def test_a_failing_endpoint_is_told_apart_by_an_enum_member(step, kind):
    # The real openai client over the scripted wire: the kind comes from the translation
    # at the boundary, not from a hand-built LLMError.
    client = LLMClient(ScriptedLLM([step]).client())
    try:
        with pytest.raises(LLMError) as err:
            await client.complete(STAGE, MESSAGES, None, 50)
    finally:
        await client.close()
    assert type(err.value.kind) is LLMErrorKind and err.value.kind is kind
    assert str(err.value).startswith(f"{kind.value}: ")  # the message reads as it always did


async def test_an_unreachable_endpoint_is_a_connection_error():
    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = LLMClient(openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1",
                                          api_key="test", max_retries=0, timeout=5.0))
    try:
        with pytest.raises(LLMError) as err:
            await client.complete(STAGE, MESSAGES, None, 50)
    finally:
        await client.close()
    assert err.value.kind is LLMErrorKind.CONNECTION
