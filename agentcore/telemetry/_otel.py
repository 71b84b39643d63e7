"""Each request's trace, exported over OTLP with the OpenTelemetry SDK.

The engine already times every stage (agentcore.tracing); this turns a finished
request's spans into OTel spans, after the fact, with their real start and end
times: one root span per request, the engine's stages under it, a stage's
children under it as the engine nested them (a span names its parent by name).
LLM calls and tool calls are named and attributed by the GenAI semantic
conventions (`chat {model}`, `execute_tool {name}`, `gen_ai.*`); the engine's
own attributes ride along as `agentcore.*`.

Content (the customer's text, the answer, tool arguments) is exported only when
the user opts in (settings `telemetry.capture_content`, or the conventions'
OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true), and then redacted.
The system prompt and each call's full message list are not on the engine's
spans, so they are not exported: the user message is the customer's text.

Its own TracerProvider, never the global one: an embedder's tracing is left alone.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agentcore.events import Event, RequestAnswered, RequestEscalated, RequestRejected
from agentcore.models import EscalationReason, Outcome, Span
from agentcore.redaction import redact
from agentcore.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

    from agentcore.engine import Engine

log = logging.getLogger("agentcore.telemetry")

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
ROOT_SPAN = "agentcore.request"
_MAX_TEXT = 4096  # an attribute's text beyond this is cut: a trace is not an archive
_PAYLOAD_KEYS = frozenset({"arguments"})  # a tool's input: content, opted into only


def tracing_wanted() -> bool:
    """Whether the standard environment asks for traces: an OTLP endpoint is set (all
    signals' or traces' own) and the SDK is not disabled."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def capture_wanted(settings: Settings) -> bool:
    return (settings.telemetry.capture_content
            or os.environ.get(CAPTURE_ENV, "").strip().lower() == "true")


def start_tracing(engine: Engine, settings: Settings, *,
                  exporter: SpanExporter | None = None) -> Callable[[], None]:
    """Exports every request `engine` finishes from now on, when the environment sets an
    OTLP endpoint (or a test passes `exporter`); returns the function that stops,
    flushing what is queued. Without either, nothing is imported and the stop is a no-op."""
    if exporter is None and not tracing_wanted():
        return lambda: None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # endpoint, headers, timeout: the OTEL_* environment
    service = os.environ.get("OTEL_SERVICE_NAME") or "agentcore"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    converter = TraceExporter(provider.get_tracer("agentcore"), engine,
                              capture=capture_wanted(settings))
    unsubscribe = engine.subscribe(converter.on_event)
    log.info("OTLP traces on (%s)%s", type(exporter).__name__,
             ", with content" if converter.capture else "")

    def stop() -> None:
        unsubscribe()
        provider.shutdown()  # flushes the batch processor's queue

    return stop


class TraceExporter:
    """Turns finished outcomes into OTel spans on `tracer`."""

    def __init__(self, tracer: Tracer, engine: Engine, *, capture: bool) -> None:
        self.tracer = tracer
        self.engine = engine
        self.capture = capture

    def on_event(self, event: Event) -> None:
        if isinstance(event, RequestAnswered | RequestEscalated | RequestRejected):
            self.export(event.outcome)

    def export(self, outcome: Outcome) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        spans = _parents_first(outcome.spans)
        request = outcome.request
        start = min([s.start for s in spans] + [request.received_at or float("inf")])
        if start == float("inf"):
            return  # nothing timed: nothing to show
        end = max([s.end for s in spans] + [start])
        root = self.tracer.start_span(ROOT_SPAN, kind=SpanKind.SERVER, start_time=_ns(start),
                                      attributes=self._root_attributes(outcome))
        if outcome.escalation_reason is EscalationReason.INTERNAL_ERROR:
            root.set_status(Status(StatusCode.ERROR, redact("; ".join(outcome.errors))))
        made: list[tuple[Span, Any]] = []
        last_chat = _last_chat(spans)
        for span in spans:
            parent = _parent_of(span, made)
            context = trace.set_span_in_context(parent if parent is not None else root)
            name, kind, attributes = self._describe(span, outcome, span is last_chat)
            otel = self.tracer.start_span(name, context=context, kind=kind,
                                          start_time=_ns(span.start), attributes=attributes)
            if span.error:
                otel.set_status(Status(StatusCode.ERROR, span.error))
                otel.set_attribute("error.type", span.error.split(":", 1)[0][:100])
            made.append((span, otel))
        for span, otel in made:
            otel.end(end_time=_ns(max(span.end, span.start)))
        root.end(end_time=_ns(end))

    def _root_attributes(self, outcome: Outcome) -> dict[str, Any]:
        request = outcome.request
        attributes: dict[str, Any] = {
            "agentcore.request.id": request.id, "agentcore.request.channel": request.channel,
            "agentcore.route": str(outcome.route), "agentcore.status": str(outcome.status),
            "agentcore.latency_ms": outcome.latency_ms,
            "agentcore.cost_dollars": outcome.usage.dollars,
            "gen_ai.usage.input_tokens": outcome.usage.prompt_tokens,
            "gen_ai.usage.output_tokens": outcome.usage.completion_tokens}
        optional = {"agentcore.intent": outcome.intent, "agentcore.rule_id": outcome.rule_id,
                    "agentcore.escalation_reason": outcome.escalation_reason,
                    "agentcore.rung": outcome.rung, "agentcore.llm_cause": outcome.llm_cause}
        attributes.update({k: str(v) for k, v in optional.items() if v is not None})
        if self.capture:
            attributes["agentcore.request.text"] = _text(request.text)
            if outcome.answer:
                attributes["agentcore.answer"] = _text(outcome.answer)
        return attributes

    def _describe(self, span: Span, outcome: Outcome,
                  last_chat: bool) -> tuple[str, Any, dict[str, Any]]:
        from opentelemetry.trace import SpanKind

        attributes = {f"agentcore.{k}": _value(v) for k, v in span.attributes.items()
                      if v is not None and k not in _PAYLOAD_KEYS}
        attributes["agentcore.span"] = span.name
        if _is_chat(span):
            return self._chat(span, outcome, last_chat, attributes), SpanKind.CLIENT, attributes
        if span.name.startswith("tool:"):
            tool = span.name.removeprefix("tool:")
            attributes.update({"gen_ai.operation.name": "execute_tool",
                               "gen_ai.tool.name": tool, "gen_ai.tool.type": "function"})
            call_id = span.attributes.get("call_id")
            if call_id:
                attributes["gen_ai.tool.call.id"] = str(call_id)
            if self.capture and "arguments" in span.attributes:
                attributes["gen_ai.tool.call.arguments"] = _text(
                    json.dumps(span.attributes["arguments"], default=str))
            return f"execute_tool {tool}", SpanKind.INTERNAL, attributes
        if self.capture and "arguments" in span.attributes:
            attributes["agentcore.arguments"] = _text(
                json.dumps(span.attributes["arguments"], default=str))
        return span.name, SpanKind.INTERNAL, attributes

    def _chat(self, span: Span, outcome: Outcome, last_chat: bool,
              attributes: dict[str, Any]) -> str:
        model = str(span.attributes["model"])
        llm = self.engine.settings.llm
        provider, address, port = _provider(llm.base_url)
        attributes.update({"gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                           "gen_ai.provider.name": provider, "gen_ai.system": provider,
                           "gen_ai.request.max_tokens": llm.max_tokens,
                           "agentcore.stage": "classify" if span.name == "classify"
                           else "decide"})
        if address:
            attributes["server.address"] = address
        if port:
            attributes["server.port"] = port
        if "prompt_tokens" in span.attributes:  # the call came back
            attributes["gen_ai.usage.input_tokens"] = int(span.attributes["prompt_tokens"])
            attributes["gen_ai.usage.output_tokens"] = int(
                span.attributes.get("completion_tokens") or 0)
            # The engine keeps whether the reply called tools, not the raw finish reason:
            # a reply with tool calls finished for them, any other one stopped.
            attributes["gen_ai.response.finish_reasons"] = (
                ("tool_calls",) if span.attributes.get("tool_calls") else ("stop",))
        if self.capture:
            attributes["gen_ai.input.messages"] = json.dumps([{
                "role": "user", "parts": [{"type": "text",
                                           "content": _text(outcome.request.text)}]}])
            if last_chat and outcome.answer and "prompt_tokens" in span.attributes:
                attributes["gen_ai.output.messages"] = json.dumps([{
                    "role": "assistant", "finish_reason": "stop",
                    "parts": [{"type": "text", "content": _text(outcome.answer)}]}])
        return f"chat {model}"


def _parents_first(spans: list[Span]) -> list[Span]:
    """By start time, a parent before its children where they started at the same
    instant (the loop and its first call, on a coarse clock)."""
    parents = {s.name: s.parent for s in spans}

    def depth(span: Span) -> int:
        level, name = 0, span.parent
        while name is not None and level < len(spans):  # a loop of names: stop anyway
            level, name = level + 1, parents.get(name)
        return level

    return sorted(spans, key=lambda s: (s.start, depth(s)))


def _is_chat(span: Span) -> bool:
    return span.parent == "llm_loop" and "model" in span.attributes


def _last_chat(spans: list[Span]) -> Span | None:
    chats = [s for s in spans if _is_chat(s)]
    return chats[-1] if chats else None


def _parent_of(span: Span, made: list[tuple[Span, Any]]) -> Any:
    """The OTel span of `span`'s parent: the latest started span of that name that was
    running when `span` started (a name can repeat in a trace: a re-run, a retry)."""
    if span.parent is None:
        return None
    for candidate, otel in reversed(made):
        if candidate.name == span.parent and candidate.start <= span.start <= candidate.end:
            return otel
    return None


def _provider(base_url: str | None) -> tuple[str, str | None, int | None]:
    """gen_ai.provider.name and the server, from the endpoint: the conventions' names
    for the providers they list, "openai" for any other OpenAI-compatible server (it
    speaks that API), "agentcore.mock" for the in-process mock LLM."""
    if base_url is None:
        return "agentcore.mock", None, None
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    provider = "azure.ai.openai" if host.endswith(".openai.azure.com") else "openai"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    return provider, host or None, port


def _value(value: Any) -> Any:
    """An engine attribute as OTel takes it: scalars as they are (text redacted), a list
    of texts as a sequence, anything else as redacted JSON."""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(_text(v) for v in value)
    return _text(json.dumps(value, default=str))


def _text(text: str) -> str:
    return redact(text)[:_MAX_TEXT]


def _ns(seconds: float) -> int:
    # Whole seconds apart: seconds since the epoch times 1e9 is past a float's 53 bits,
    # and would shift every span by a few hundred nanoseconds, differently each.
    whole = int(seconds)
    return whole * 1_000_000_000 + round((seconds - whole) * 1_000_000_000)
