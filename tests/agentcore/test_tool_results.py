"""The run's tool records survive the escalation context's JSON, old and new."""

from agentcore.tool_results import DerivedFact, ToolCallRecord, ToolResults


def test_records_and_facts_round_trip_through_the_stored_json():
    results = ToolResults()
    results.record(ToolCallRecord("c1", "get_order", {"order_id": 12345}, {"status": "ok"}))
    results.record(ToolCallRecord("engine:get_payments:12345", "get_payments",
                                  {"order_id": 12345}, error="backend down", by="engine"))
    results.derive(DerivedFact("refund_quote", 12345, {"allowed_cents": 900}))
    back = ToolResults.from_dict(results.as_dict())
    assert back.calls == results.calls and back.facts == results.facts
    assert [c.ok for c in back] == [True, False]


def test_a_call_recorded_again_moves_last_and_replaces_the_earlier_look():
    results = ToolResults()
    results.record(ToolCallRecord("engine:get_order:1", "get_order", {"order_id": 1}, {"v": 1}))
    results.record(ToolCallRecord("c9", "search_faq", {"query": "x"}, {"results": []}))
    results.record(ToolCallRecord("engine:get_order:1", "get_order", {"order_id": 1}, {"v": 2}))
    assert [(c.call_id, c.result) for c in results] == [
        ("c9", {"results": []}), ("engine:get_order:1", {"v": 2})]


def test_an_older_contexts_flat_shape_is_read_as_calls_and_facts():
    old = {"call_1": {"tool": "issue_refund", "arguments": {"order_id": 7}, "result": {}},
           "refund_quote:7": {"order_id": 7, "allowed_cents": 500},
           "engine:get_order:7": {"tool": "get_order", "arguments": {"order_id": 7},
                                  "error": "timeout", "by": "engine"}}
    results = ToolResults.from_dict(old)
    assert [(c.tool, c.by) for c in results] == [("issue_refund", "model"),
                                                  ("get_order", "engine")]
    [quote] = results.facts_of("refund_quote")
    assert (quote.entity, quote.data["allowed_cents"]) == (7, 500)
    assert not ToolResults.from_dict(None) and not ToolResults.from_dict({"x": 3})
