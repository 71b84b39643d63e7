"""The all-LLM baseline of the headline bench: a LangChain `create_agent` agent.

What a team would write with LangChain instead of the engine: every request goes
to the decide model, with the domain's own tools and the domain's decide prompt
("Intent: unknown", so the model classifies for itself), in LangChain's agent
loop, until the model stops calling tools. No rules, no cache, no second model.

It is given exactly what the engine's slow path is given, so only the systems
differ: the same `ToolRegistry` (each tool a `StructuredTool` with the registry's
JSON schema, run through `ToolRegistry.call` with the request's `ToolContext`, so
policies, idempotency and the tool timeout hold the same), the same tools offered
to a request without a customer (the public ones only), the same model name,
completion cap and HTTP timeout, and an `openai` client on the caller's transport
(the bench's mock LLM). A tool's failure reaches the model as `{"error": ...}`, as
the engine's loop reports it.

LangChain is a bench-only dependency (bench/requirements-langchain.txt); nothing
outside `bench/` imports this module.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx2
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain.tools import ToolRuntime
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import BaseTool, StructuredTool
from langchain_openai import ChatOpenAI

from agentcore.domain import Domain
from agentcore.errors import ToolError
from agentcore.prompts import Prompts
from agentcore.settings import Settings
from agentcore.tools import Tool, ToolContext, ToolRegistry


@dataclass(frozen=True, slots=True)
class Asker:
    """Who a request is from: LangGraph's runtime context for one `ainvoke`."""

    request_id: str
    customer_id: int | None


@dataclass(frozen=True, slots=True)
class AgentReply:
    """What the agent said last, and every completion it read on the way."""

    text: str
    completions: list[AIMessage]

    @property
    def tokens(self) -> tuple[int, int]:
        """Prompt and completion tokens, as the endpoint's responses reported them."""
        prompt = completion = 0
        for message in self.completions:
            usage = message.usage_metadata
            if usage is not None:
                prompt += usage["input_tokens"]
                completion += usage["output_tokens"]
        return prompt, completion


def _as_langchain_tool(registry: ToolRegistry, tool: Tool, timeout_s: float) -> StructuredTool:
    async def run(runtime: ToolRuntime[Asker], **arguments: Any) -> str:
        ctx = ToolContext(runtime.context.request_id, runtime.context.customer_id)
        try:
            # Validated by the tool's own model, as the engine validates the LLM's JSON.
            parsed = tool.parse(json.dumps(arguments))
            result = await registry.call(tool.name, parsed, ctx, timeout_s)
        except ToolError as exc:  # refused, not found, bad arguments, timed out
            result = {"error": str(exc)}
        return json.dumps(result, default=str)

    return StructuredTool.from_function(
        coroutine=run, name=tool.name, description=tool.description,
        args_schema=tool.schema["function"]["parameters"])


class _DomainPrompt(AgentMiddleware[Any, Asker]):
    """The decide prompt for this request's customer, and the tools it may be offered:
    what the engine's loop sends, set per call the way LangChain 1.x agents do it."""

    def __init__(self, prompts: Prompts, today: str, public: set[str]) -> None:
        super().__init__()
        self._prompts = prompts
        self._today = today
        self._public = public

    async def awrap_model_call(
            self, request: ModelRequest[Asker],
            handler: Callable[[ModelRequest[Asker]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        customer = request.runtime.context.customer_id
        system = self._prompts.decide_for(None, customer, self._today)
        tools: list[BaseTool | dict[str, Any]] = request.tools if customer is not None else [
            t for t in request.tools if isinstance(t, BaseTool) and t.name in self._public]
        return await handler(request.override(system_message=SystemMessage(system),
                                              tools=tools))


class LangChainAgent:
    """`create_agent` over a domain's tools and prompts, on the given HTTP client."""

    def __init__(self, domain: Domain, settings: Settings, http: httpx2.AsyncClient,
                 base_url: str = "http://mock.llm/v1") -> None:
        registry = domain.tools
        timeout = settings.loop.tool_timeout_s
        tools = [_as_langchain_tool(registry, registry.get(name), timeout)
                 for name in registry.names]
        public = {name for name in registry.names if registry.get(name).public}
        prompts = Prompts.load(settings.resources_dir or domain.resources, domain.intents)
        stage = settings.llm.decide
        self.model = ChatOpenAI(model=stage.model, base_url=base_url, api_key="mock",
                                http_async_client=http, max_retries=0,
                                max_completion_tokens=settings.llm.max_tokens,
                                timeout=settings.llm.request_timeout_s)
        self.agent: Any = create_agent(
            model=self.model, tools=tools, context_schema=Asker,
            middleware=[_DomainPrompt(prompts, domain.today().isoformat(), public)])

    async def ask(self, text: str, customer_id: int | None, request_id: str) -> AgentReply:
        state = await self.agent.ainvoke({"messages": [HumanMessage(text)]},
                                         context=Asker(request_id, customer_id))
        messages: list[BaseMessage] = state["messages"]
        completions = [m for m in messages if isinstance(m, AIMessage)]
        last = completions[-1].content if completions else ""
        return AgentReply(last if isinstance(last, str) else json.dumps(last), completions)
