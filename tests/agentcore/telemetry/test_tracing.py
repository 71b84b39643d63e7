"""Each request's trace as OTel spans, captured with the SDK's in-memory exporter, and
once over real OTLP/HTTP to a loopback collector."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentcore.telemetry import start_tracing
from tests.agentcore.scripted_llm import final, tool_call
from tests.agentcore.telemetry.conftest import LLM_CALL_S, SLOW_TEXT, Served

FAKE_KEY = "sk-live0123456789abcdefXYZ"
ASKED = f"my app keeps crashing and nothing helps, my key is {FAKE_KEY}"


@pytest.fixture(autouse=True)
def no_otel_environment(monkeypatch):
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                 "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "OTEL_SDK_DISABLED",
                 "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)


def script_a_tool_and_an_answer(served: Served) -> None:
    served.script.steps += [
        {"tool_calls": [tool_call("search_faq", {"query": "app crash"}, "call_7")]},
        final("Try reinstalling the app.", intent="technical")]


async def traced(served: Served, *texts: str) -> list:
    exporter = InMemorySpanExporter()
    stop = start_tracing(served.engine, served.engine.settings, exporter=exporter)
    try:
        for text in texts:
            await served.ask(text)
    finally:
        stop()  # flushes the batch processor
    return list(exporter.get_finished_spans())


def by_name(spans: list) -> dict:
    return {s.name: s for s in spans}


async def test_one_trace_per_request_with_the_engines_nesting_and_times(served):
    script_a_tool_and_an_answer(served)
    spans = await traced(served, SLOW_TEXT, "hello")
    roots = [s for s in spans if s.parent is None]
    assert [r.name for r in roots] == ["agentcore.request"] * 2
    assert len({s.context.trace_id for s in spans}) == 2
    first = roots[0] if roots[0].attributes["agentcore.route"] == "llm" else roots[1]
    mine = [s for s in spans if s.context.trace_id == first.context.trace_id]
    named = by_name(mine)
    loop = named["llm_loop"]
    # Each stage under the request, the LLM and tool calls under the loop, as the engine
    # nested them.
    for stage in ("guard", "accept", "cache", "route", "llm_loop"):
        assert named[stage].parent.span_id == first.context.span_id
    chats = [s for s in mine if s.name == "chat gpt-4o"]
    assert len(chats) == 2
    for child in (*chats, named["execute_tool search_faq"]):
        assert child.parent.span_id == loop.context.span_id
    # The engine's own times: each call took 0.25 s on its clock, the loop both of them.
    for chat in chats:
        assert abs(chat.end_time - chat.start_time - LLM_CALL_S * 1e9) < 1_000  # 1 µs
    assert loop.start_time <= chats[0].start_time and chats[1].end_time <= loop.end_time
    assert chats[0].end_time <= named["execute_tool search_faq"].start_time
    assert first.start_time <= named["guard"].start_time
    assert first.end_time >= loop.end_time


async def test_llm_and_tool_spans_carry_the_genai_conventions(served):
    script_a_tool_and_an_answer(served)
    named_chats = [s for s in await traced(served, SLOW_TEXT)
                   if s.attributes.get("gen_ai.operation.name")]
    chats = [s for s in named_chats if s.attributes["gen_ai.operation.name"] == "chat"]
    calling, answering = sorted(chats, key=lambda s: s.start_time)
    for chat in chats:
        assert chat.kind.name == "CLIENT"
        assert chat.attributes["gen_ai.request.model"] == "gpt-4o"
        assert chat.attributes["gen_ai.provider.name"]
        assert chat.attributes["gen_ai.usage.input_tokens"] == 500
        assert chat.attributes["gen_ai.usage.output_tokens"] == 50
    assert calling.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert answering.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    (tool,) = [s for s in named_chats if s.attributes["gen_ai.operation.name"] == "execute_tool"]
    assert tool.name == "execute_tool search_faq"
    assert tool.attributes["gen_ai.tool.name"] == "search_faq"
    assert tool.attributes["gen_ai.tool.call.id"] == "call_7"


def every_text(spans: list) -> str:
    return json.dumps([{k: v if isinstance(v, str | int | float) else list(v)
                        for k, v in s.attributes.items()} for s in spans])


async def test_no_prompt_or_answer_text_unless_the_user_opts_in(served):
    script_a_tool_and_an_answer(served)
    spans = await traced(served, ASKED)
    text = every_text(spans)
    assert "crashing" not in text and "reinstalling" not in text and "app crash" not in text
    assert not any("gen_ai.input.messages" in s.attributes for s in spans)


async def test_with_opt_in_the_text_is_there_and_redacted(served):
    served.engine.settings.telemetry.capture_content = True
    script_a_tool_and_an_answer(served)
    spans = await traced(served, ASKED)
    chats = sorted((s for s in spans if s.name == "chat gpt-4o"), key=lambda s: s.start_time)
    asked = json.loads(chats[0].attributes["gen_ai.input.messages"])
    content = asked[0]["parts"][0]["content"]
    assert asked[0]["role"] == "user" and "crashing" in content
    assert FAKE_KEY not in every_text(spans) and "***" in content
    answered = json.loads(chats[-1].attributes["gen_ai.output.messages"])
    assert answered[0]["parts"][0]["content"] == "Try reinstalling the app."
    (tool,) = [s for s in spans if s.name == "execute_tool search_faq"]
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"query": "app crash"}


async def test_the_conventions_environment_variable_opts_in_too(served, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    served.script.steps.append(final("Try reinstalling the app.", intent="technical"))
    spans = await traced(served, ASKED)
    assert "crashing" in every_text(spans) and FAKE_KEY not in every_text(spans)


async def test_without_an_endpoint_tracing_is_off_and_costs_nothing(served):
    before = served.engine.bus._subscribers[:]
    stop = start_tracing(served.engine, served.engine.settings)
    assert served.engine.bus._subscribers == before  # nothing listens
    stop()


async def test_traces_reach_an_otlp_collector_named_by_the_environment(served, monkeypatch):
    """OTLP/HTTP to a stand-in collector on a loopback port: the protobuf the SDK posts
    holds the request's spans."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    received: list[bytes] = []

    async def traces(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://{host}:{port}")
    try:
        stop = start_tracing(served.engine, served.engine.settings)
        await served.ask("hello")
        await asyncio.to_thread(stop)  # the export posts to this loop's server: not on it
    finally:
        await runner.cleanup()
    names = set()
    for body in received:
        export = ExportTraceServiceRequest.FromString(body)
        for resource in export.resource_spans:
            service = {a.key: a.value.string_value for a in resource.resource.attributes}
            assert service["service.name"] == "agentcore"
            names |= {s.name for scope in resource.scope_spans for s in scope.spans}
    assert {"agentcore.request", "guard", "accept"} <= names
