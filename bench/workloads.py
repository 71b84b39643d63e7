"""The work each benchmark times: the engine's paths and a bare openai loop.

The bare loop is the baseline for the slow path: the same mock LLM, the same
prompt and tool schemas, the same tool functions, the same two turns and
three tools, with none of the engine (no guard, router, trace, bounds,
validator, persistence or events).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import openai

from agentcore import Engine, Request, Settings
from agentcore.demo_shop.domain import RESOURCES
from agentcore.demo_shop.intents import INTENTS
from agentcore.demo_shop.repository import Shop
from agentcore.demo_shop.shopgen import generate_shop
from agentcore.demo_shop.tools import shop_registry
from agentcore.mock_llm import mock_transport
from agentcore.prompts import Prompts
from agentcore.settings import MockSettings
from agentcore.tools import ToolContext

_SHOP_CACHE: Path | None = None


def fresh_data_dir() -> Path:
    """A new data folder holding a copy of the demo shop (generated once per run)."""
    global _SHOP_CACHE
    if _SHOP_CACHE is None:
        _SHOP_CACHE = Path(tempfile.mkdtemp(prefix="bench-shop-")) / "shop.sqlite"
        generate_shop(_SHOP_CACHE)
    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    shutil.copy(_SHOP_CACHE, folder / "shop.sqlite")
    return folder


def bench_settings(data_dir: Path) -> Settings:
    settings = Settings(data_dir=data_dir)
    settings.llm.classify = None  # decide only: two turns, three tools, like the baseline
    settings.guard.rate_per_minute = 10_000_000
    settings.guard.anonymous_rate_per_minute = 10_000_000
    # The bench measures the engine, not a provider's quota: no LLM rate limits.
    settings.resilience.rate_limit.requests_per_minute = None
    settings.resilience.rate_limit.tokens_per_minute = None
    return settings


def mock_client() -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=mock_transport(MockSettings()))
    return openai.AsyncOpenAI(base_url="http://mock.llm/v1", api_key="mock", http_client=http,
                              max_retries=0)


def billing_requests(shop: Shop, n: int) -> list[tuple[str, int]]:
    """'Charged twice' messages: the mock answers them in two turns with three tools."""
    rows = shop.conn.execute(
        "SELECT o.id, o.customer_id FROM orders o WHERE o.status = 'delivered' AND "
        "(SELECT COUNT(*) FROM payments p WHERE p.order_id = o.id AND p.status = 'captured')"
        " = 1 ORDER BY o.id LIMIT ?", (n,)).fetchall()
    return [(f"I was charged twice for order {oid}, please check my payment", cid)
            for oid, cid in rows]


class BareLoop:
    """What a hand-written openai loop does for the same request."""

    def __init__(self, settings: Settings, shop: Shop) -> None:
        self.client = mock_client()
        self.settings = settings
        self.shop = shop
        self.tools = shop_registry(shop)
        self.prompts = Prompts.load(RESOURCES, INTENTS)
        self.calls = 0

    async def run(self, text: str, customer_id: int, request_id: str) -> str:
        system = self.prompts.decide_for(None, customer_id, self.shop.today.isoformat())
        messages: list[dict[str, Any]] = [{"role": "system", "content": system},
                                          {"role": "user", "content": text}]
        ctx = ToolContext(request_id, customer_id)
        stage = self.settings.llm.decide
        for _ in range(self.settings.loop.max_iterations):
            response = await self.client.chat.completions.create(
                model=stage.model, messages=messages, tools=self.tools.schemas,
                max_tokens=self.settings.llm.max_tokens)
            self.calls += 1
            message = response.choices[0].message
            if not message.tool_calls:
                return json.loads(message.content)["answer"]
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls:
                tool = self.tools.get(call.function.name)
                result = await tool.fn(ctx, **json.loads(call.function.arguments))
                messages.append({"role": "tool", "tool_call_id": call.id,
                                 "content": json.dumps(result, default=str)})
        raise RuntimeError("no answer")


def make_engine(data_dir: Path) -> Engine:
    return Engine(bench_settings(data_dir), openai_client=mock_client())


async def engine_run(engine: Engine, text: str, customer_id: int) -> str:
    outcome = await engine.submit(Request(text, customer_id=customer_id))
    if outcome.route != "llm" or outcome.status != "answered":
        raise RuntimeError(f"benchmark request took {outcome.route}/{outcome.status}: "
                           f"{outcome.errors}")
    return outcome.answer


@asynccontextmanager
async def engine_fault_factory(env: Any) -> AsyncIterator[Any]:
    """The whole engine (loop, breaker, ladder) against the faulty loopback mock."""
    settings = bench_settings(fresh_data_dir())
    settings.llm.request_timeout_s = env.request_timeout_s
    settings.resilience = env.resilience
    client = openai.AsyncOpenAI(base_url=env.base_url, api_key="mock", max_retries=0,
                                timeout=env.request_timeout_s)
    engine = Engine(settings, openai_client=client)
    engine.breaker.subscribe(env.on_breaker)
    try:
        yield lambda text, cid: engine.submit(Request(text, customer_id=cid))
    finally:
        await engine.close()
