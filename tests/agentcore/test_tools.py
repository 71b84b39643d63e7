"""Tools: schemas from type hints, argument validation, timeouts, idempotent writes."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import pytest
from pydantic import Field

from agentcore.demo_shop.repository import Shop
from agentcore.demo_shop.tools import shop_registry
from agentcore.errors import ToolArgumentsError, ToolError, UnknownToolError
from agentcore.tools import Tool, ToolContext, ToolRegistry


@pytest.fixture
def shop(settings):
    shop = Shop(settings.shop_path)
    yield shop
    shop.close()


def an_order(shop: Shop, status: str = "delivered") -> dict:
    row = shop.conn.execute("SELECT id, customer_id FROM orders WHERE status = ? ORDER BY id "
                            "LIMIT 1", (status,)).fetchone()
    return {"id": row[0], "customer_id": row[1]}


def test_schemas_are_generated_from_type_hints(shop):
    schemas = {s["function"]["name"]: s["function"] for s in shop_registry(shop).schemas}
    assert set(schemas) == {"get_order", "get_payments", "get_refund_policy", "get_customer",
                            "search_faq", "issue_refund", "cancel_order", "send_password_reset"}
    refund = schemas["issue_refund"]
    assert refund["description"].startswith("Refunds an amount")
    params = refund["parameters"]
    assert params["required"] == ["order_id", "amount", "reason"]
    assert params["properties"]["order_id"]["type"] == "integer"
    assert params["properties"]["order_id"]["minimum"] == 10000
    assert params["properties"]["amount"]["type"] == "number"
    assert params["additionalProperties"] is False
    assert "title" not in json.dumps(schemas)


@pytest.mark.parametrize(("raw", "complaint"), [
    ('{"order_id": "abc"}', "order_id"),
    ('{"order_id": 123}', "greater than or equal to 10000"),
    ('{}', "order_id: Field required"),
    ('{"order_id": 12345, "admin": true}', "admin: Extra inputs are not permitted"),
    ('{"order_id": 12345', "Invalid JSON"),
])
def test_bad_arguments_are_refused_with_the_reason(shop, raw, complaint):
    tool = shop_registry(shop).get("get_order")
    with pytest.raises(ToolArgumentsError) as err:
        tool.parse(raw)
    assert complaint in str(err.value)


def test_unknown_tool_names_the_available_ones(shop):
    with pytest.raises(UnknownToolError, match="get_order"):
        shop_registry(shop).get("delete_all_orders")


async def test_reads_return_the_customers_own_data_only(shop):
    order = an_order(shop)
    registry = shop_registry(shop)
    mine = ToolContext("req-1", order["customer_id"])
    result = await registry.call("get_order", {"order_id": order["id"]}, mine, timeout=1)
    assert result["id"] == order["id"] and result["status"] == "delivered"
    stranger = ToolContext("req-2", order["customer_id"] + 1)
    with pytest.raises(ToolError, match="not one of this customer's orders"):
        await registry.call("get_order", {"order_id": order["id"]}, stranger, timeout=1)


async def test_a_slow_tool_times_out_with_a_clear_error(shop):
    async def slow_lookup(ctx: ToolContext, order_id: Annotated[int, Field(ge=1)]) -> dict:
        """Never answers in time."""
        await asyncio.sleep(30)
        return {}

    registry = ToolRegistry.from_functions([slow_lookup], [])
    with pytest.raises(ToolError, match=r"slow_lookup timed out after 0.05 s"):
        await registry.call("slow_lookup", {"order_id": 1}, ToolContext("r", 1),
                            timeout=0.05)


async def test_a_retried_write_never_acts_twice(shop):
    order = an_order(shop)
    registry = shop_registry(shop)
    ctx = ToolContext("req-refund-1", order["customer_id"])
    args = {"order_id": order["id"], "amount": 5.0, "reason": "damaged"}
    first = await registry.call("issue_refund", args, ctx, timeout=1)
    again = await registry.call("issue_refund", args, ctx, timeout=1)
    assert again["refund_id"] == first["refund_id"] and again["replayed"] is True
    refunds = [r for r in shop.get_refunds(order["id"]) if r["request_id"] == "req-refund-1"]
    assert len(refunds) == 1 and refunds[0]["amount_cents"] == 500
    # Another request is another action.
    other = ToolContext("req-refund-2", order["customer_id"])
    await registry.call("issue_refund", args, other, timeout=1)
    assert len([r for r in shop.get_refunds(order["id"]) if r["request_id"]]) == 2


async def test_writes_tell_listeners_which_entities_changed(shop):
    order = an_order(shop, "processing")
    changed: list[list[str]] = []
    shop.on_change(changed.append)
    ctx = ToolContext("req-cancel", order["customer_id"])
    result = await shop_registry(shop).call("cancel_order", {"order_id": order["id"],
                                                         "reason": "changed my mind"},
                                        ctx, timeout=1)
    assert result["cancelled"] is True
    assert shop.get_order(order["id"])["status"] == "cancelled"
    assert changed == [[f"order:{order['id']}", f"customer:{order['customer_id']}"]]


def _schema_tool() -> Tool:
    async def run(ctx, /, **arguments):
        return arguments

    schema = {"type": "object", "properties": {"amount": {"type": "number"},
                                               "note": {"type": "string"}},
              "required": ["amount"], "additionalProperties": False}
    return Tool.from_schema("srv__refund", "Refund.", schema, run, writes=True,
                            source="srv",
                            restore=lambda a: {k: v for k, v in a.items() if v is not None})


def test_a_schema_tool_refuses_a_boolean_for_a_number_as_a_domain_tool_does():
    tool = _schema_tool()
    with pytest.raises(ToolArgumentsError, match=r"srv__refund: amount: must be a number, "
                                                 r"not true"):
        tool.parse('{"amount": true}')
    with pytest.raises(ToolArgumentsError, match=r"srv__refund: .*'extra' was unexpected"):
        tool.parse('{"amount": 1, "extra": 2}')


def test_a_schema_tools_arguments_are_restored_and_read_alike_again():
    tool = _schema_tool()
    first = tool.parse('{"amount": 12.5, "note": null}')
    assert first == {"amount": 12.5}  # the null the cleaned schema asked for is gone
    assert tool.parse(json.dumps(first)) == first  # an approval parses them again
    assert tool.source == "srv" and tool.policy is None


async def test_replace_swaps_the_tools_for_everyone_holding_the_registry():
    registry = ToolRegistry([])
    holder = registry  # the loop, the fast path and the queue hold this object
    registry.replace([_schema_tool()])
    assert holder.has("srv__refund") and holder.server_of("srv__refund") == "srv"
    assert [s["function"]["name"] for s in holder.schemas] == ["srv__refund"]
