"""The demo shop over MCP (issue 15, item 5): a real server process, reached over stdio
and over Streamable HTTP with the SDK's own client, answers as the in-process tools
do, keeps every customer's records to that customer, and refunds once per request
whoever asks twice, from however many sessions and processes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from mcp.client.session import ClientSession

from agentcore.demo_shop.mcp import HttpShopServer, as_json, server_config
from agentcore.demo_shop.repository import Shop
from agentcore.demo_shop.tools import (
    PUBLIC_TOOLS,
    READ_TOOLS,
    WRITE_POLICIES,
    WRITE_TOOLS,
    shop_registry,
)
from agentcore.errors import RecordNotFound, ToolError, WriteRefused
from agentcore.tools import ToolContext
from tests.agentcore.demo_shop.shop_sessions import http_session, meta, stdio_session

TRANSPORTS = ("stdio", "http")


@pytest.fixture
def shop_path(settings) -> Path:
    return settings.shop_path


@pytest.fixture
def shop(shop_path) -> Iterator[Shop]:
    shop = Shop(shop_path)
    yield shop
    shop.close()


@pytest.fixture
def http_server(shop_path) -> Iterator[HttpShopServer]:
    with HttpShopServer(shop_path) as server:
        yield server


@pytest.fixture(params=TRANSPORTS)
def open_session(request, shop_path, tmp_path):
    """A factory of sessions with one server over the transport asked for: each stdio
    session starts a process of its own; the HTTP sessions share one server."""
    if request.param == "stdio":
        return lambda: stdio_session(shop_path, tmp_path / "server.log")
    server = request.getfixturevalue("http_server")
    return lambda: http_session(server.url)


def refundable_order(shop: Shop) -> tuple[int, int, int]:
    """(order, its customer, the cents the policy allows) of an order with something
    to refund under the policy but more paid than that."""
    for order_id, customer_id in shop.conn.execute(
            "SELECT id, customer_id FROM orders ORDER BY id"):
        limits = shop.refund_limits(order_id)
        if limits and 0 < limits.quote.allowed_cents < limits.left_cents:
            return order_id, customer_id, limits.quote.allowed_cents
    raise AssertionError("the demo shop has no partly refundable order")


def customers_with_orders(shop: Shop, n: int) -> list[tuple[int, int]]:
    return [tuple(r) for r in shop.conn.execute(
        "SELECT customer_id, MIN(id) FROM orders GROUP BY customer_id ORDER BY customer_id "
        "LIMIT ?", (n,))]


async def in_process(shop: Shop, tool: str, arguments: dict[str, Any],
                     customer_id: int | None, request_id: str = "req-1") -> dict[str, Any]:
    registry = shop_registry(shop)
    return await registry.call(tool, arguments, ToolContext(request_id, customer_id), 10)


def refunds_of(shop_path: Path, order_id: int) -> list[tuple[int, str]]:
    with sqlite3.connect(shop_path) as conn:
        return conn.execute("SELECT amount_cents, request_id FROM refunds WHERE order_id = ?",
                            (order_id,)).fetchall()


async def test_every_read_answers_as_the_in_process_tool(open_session, shop):
    async with open_session() as session:
        for customer_id, order_id in customers_with_orders(shop, 4):
            calls = {"get_order": {"order_id": order_id}, "get_payments": {"order_id": order_id},
                     "get_refund_policy": {"order_id": order_id},
                     "get_customer": {"customer_id": customer_id},
                     "search_faq": {"query": "how long does a refund take"}}
            assert set(calls) == set(READ_TOOLS)
            for tool, arguments in calls.items():
                over_mcp = await session.call_tool(tool, arguments, meta=meta(customer_id))
                assert not over_mcp.is_error, over_mcp.content
                expected = as_json(await in_process(shop, tool, arguments, customer_id))
                assert over_mcp.structured_content == expected
                # What the engine puts in the prompt: the same text either way.
                assert (json.dumps(over_mcp.structured_content, default=str)
                        == json.dumps(await in_process(shop, tool, arguments, customer_id),
                                      default=str))
            assert over_mcp.structured_content["results"], "the FAQ search found nothing"


async def test_another_customers_order_is_refused_with_the_in_process_words(open_session, shop):
    async with open_session() as session:
        (owner, order_id), (other, _) = customers_with_orders(shop, 2)
        for tool in ("get_order", "get_payments", "get_refund_policy"):
            result = await session.call_tool(tool, {"order_id": order_id}, meta=meta(other))
            assert result.is_error
            assert result.structured_content == {"not_found": True}
            with pytest.raises(RecordNotFound) as err:
                await in_process(shop, tool, {"order_id": order_id}, other)
            assert result.content[0].text == str(err.value)
        result = await session.call_tool("get_customer", {"customer_id": owner}, meta=meta(other))
        assert result.is_error and "only the customer who wrote" in result.content[0].text


async def test_a_request_without_a_customer_reads_no_customers_records(open_session, shop):
    async with open_session() as session:
        (customer_id, order_id), = customers_with_orders(shop, 1)
        arguments = {"order_id": order_id}
        order = shop.get_order(order_id)
        for no_customer in (meta(None), None):  # a null customer, or no _meta at all
            for tool, args in (("get_order", arguments), ("get_payments", arguments),
                               ("get_customer", {"customer_id": customer_id}),
                               ("issue_refund", arguments | {"amount": 1.0, "reason": "x"})):
                result = await session.call_tool(tool, args, meta=no_customer)
                assert result.is_error, tool
                assert result.structured_content is None
                assert "customer" in result.content[0].text
                assert order["product"] not in json.dumps(result.model_dump(mode="json"))
            faq = await session.call_tool("search_faq", {"query": "refund window"},
                                          meta=no_customer)
            assert not faq.is_error and faq.structured_content["results"]
        with pytest.raises(ToolError) as err:
            await in_process(shop, "get_order", arguments, None)
        no_meta = await session.call_tool("get_order", arguments, meta=meta(None))
        assert no_meta.content[0].text == str(err.value)


async def test_bad_arguments_are_refused_in_the_in_process_tools_words(open_session, shop):
    async with open_session() as session:
        (customer_id, _), = customers_with_orders(shop, 1)
        result = await session.call_tool("get_order", {"order_id": 12, "admin": True},
                                         meta=meta(customer_id))
        assert result.is_error
        tool = shop_registry(shop).get("get_order")
        with pytest.raises(ToolError) as err:
            tool.parse(json.dumps({"order_id": 12, "admin": True}))
        assert result.content[0].text == str(err.value)


async def test_a_refund_over_policy_is_refused_with_the_offer(open_session, shop, shop_path):
    async with open_session() as session:
        order_id, customer_id, allowed = refundable_order(shop)
        asked = {"order_id": order_id, "amount": allowed / 100 + 5, "reason": "broken"}
        result = await session.call_tool("issue_refund", asked, meta=meta(customer_id, "over-1"))
        assert result.is_error
        refusal = result.structured_content
        assert refusal["refused"] is True
        assert refusal["offer"] == {"order_id": order_id, "amount": allowed / 100,
                                    "reason": "broken"}
        assert refusal["limits"]["allowed_cents"] == allowed
        with pytest.raises(WriteRefused) as err:  # the same refusal the engine would see here
            await in_process(shop, "issue_refund", asked, customer_id, "over-2")
        assert result.content[0].text == str(err.value)
        assert refusal["limits"] == as_json(err.value.limits)
        assert refunds_of(shop_path, order_id) == []  # nothing moved


async def test_an_operators_override_travels_in_meta(open_session, shop, shop_path):
    async with open_session() as session:
        order_id, customer_id, allowed = refundable_order(shop)
        asked = {"order_id": order_id, "amount": (allowed + 100) / 100, "reason": "goodwill"}
        override = {"operator": "dana", "reason": "long-standing customer"}
        result = await session.call_tool("issue_refund", asked,
                                         meta=meta(customer_id, "ovr-1", override=override))
        assert not result.is_error, result.content
        assert result.structured_content["override"] == {"by": "dana",
                                                         "reason": "long-standing customer"}
        assert refunds_of(shop_path, order_id) == [(allowed + 100, "ovr-1")]


async def test_a_write_without_an_idempotency_key_is_refused(open_session, shop, shop_path):
    async with open_session() as session:
        order_id, customer_id, allowed = refundable_order(shop)
        result = await session.call_tool(
            "issue_refund", {"order_id": order_id, "amount": allowed / 100, "reason": "x"},
            meta={"customer_id": customer_id})
        assert result.is_error and "idempotency_key" in result.content[0].text
        assert refunds_of(shop_path, order_id) == []


async def test_the_same_refund_asked_twice_refunds_once(open_session, shop, shop_path):
    async with open_session() as session:
        order_id, customer_id, allowed = refundable_order(shop)
        asked = {"order_id": order_id, "amount": allowed / 100, "reason": "late"}
        first = await session.call_tool("issue_refund", asked, meta=meta(customer_id, "twice"))
        again = await session.call_tool("issue_refund", asked, meta=meta(customer_id, "twice"))
        assert not first.is_error and first.structured_content["status"] == "issued"
        assert again.structured_content == first.structured_content | {"replayed": True,
                                                                        "as_asked": True}
        assert refunds_of(shop_path, order_id) == [(allowed, "twice")]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_one_refund_from_sessions_at_once_acts_once(transport, shop, shop_path,
                                                          tmp_path, request):
    """Four sessions at once, one idempotency key: over stdio each session is a server
    process of its own on the one shop file; over HTTP, four sessions of one server."""
    order_id, customer_id, allowed = refundable_order(shop)
    asked = {"order_id": order_id, "amount": allowed / 100, "reason": "damaged"}
    if transport == "http":
        url = request.getfixturevalue("http_server").url

        def opened() -> AbstractAsyncContextManager[ClientSession]:
            return http_session(url)
    else:
        def opened() -> AbstractAsyncContextManager[ClientSession]:
            return stdio_session(shop_path, tmp_path / "server.log")

    ready = asyncio.Barrier(4)

    async def refund() -> dict[str, Any]:
        async with opened() as session:
            await ready.wait()  # every session connected before any asks
            result = await session.call_tool("issue_refund", asked,
                                             meta=meta(customer_id, "one-key"))
            assert not result.is_error, result.content
            return dict(result.structured_content)

    results = await asyncio.gather(*(refund() for _ in range(4)))
    assert refunds_of(shop_path, order_id) == [(allowed, "one-key")]
    assert sum(not r.get("replayed") for r in results) == 1
    assert len({r["refund_id"] for r in results}) == 1


async def test_listed_tools_carry_the_in_process_schemas_and_their_annotations(open_session, shop):
    async with open_session() as session:
        listed = {t.name: t for t in (await session.list_tools()).tools}
        registry = shop_registry(shop)
        assert list(listed) == registry.names
        for schema in registry.schemas:
            fn = schema["function"]
            tool = listed[fn["name"]]
            assert tool.description == fn["description"]
            assert tool.input_schema == fn["parameters"]
            hints = tool.annotations
            assert hints is not None
            if fn["name"] in READ_TOOLS:
                assert hints.read_only_hint is True
            else:
                assert fn["name"] in WRITE_TOOLS
                assert hints.read_only_hint is False and hints.idempotent_hint is True
        assert listed["issue_refund"].annotations.destructive_hint is True
        assert listed["send_password_reset"].annotations.destructive_hint is False


def test_the_demos_server_config_stands_in_for_the_shops_own_tools(shop_path):
    stdio = server_config("stdio", shop_path, today="2026-11-01", latency_ms=5)
    assert stdio.transport == "stdio" and stdio.tool_prefix == ""
    assert stdio.replaces_domain_tools and stdio.public == list(PUBLIC_TOOLS)
    assert stdio.args[-4:] == ["--today", "2026-11-01", "--latency-ms", "5"]
    for tool, text in WRITE_POLICIES.items():
        policy = stdio.policy_of(tool)
        assert policy.runs_alone and policy.server_policy == text
    http = server_config("http", shop_path, port=8765)
    assert http.url == "http://127.0.0.1:8765/mcp" and http.writes == stdio.writes
    with pytest.raises(ValueError, match="port"):
        server_config("http", shop_path)
