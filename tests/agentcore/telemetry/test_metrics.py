"""/metrics, /healthz and /readyz scraped over real HTTP while the engine answers
requests, parsed with prometheus-client's own parser."""

from __future__ import annotations

import os

from prometheus_client.parser import text_string_to_metric_families

from tests.agentcore.scripted_llm import final, tool_call
from tests.agentcore.telemetry.conftest import SLOW_TEXT, Served


async def scrape(served: Served) -> dict[tuple[str, frozenset], float]:
    response = await served.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def delivered_order(served: Served) -> tuple[int, int]:
    row = served.engine.domain.shop.conn.execute(
        "SELECT id, customer_id FROM orders WHERE status = 'delivered' ORDER BY id LIMIT 1"
    ).fetchone()
    return row[0], row[1]


async def escalate(served: Served) -> int:
    """A slow-path request stopped by the dollar ceiling before any LLM call."""
    loop = served.engine.settings.loop
    ceiling, loop.dollar_ceiling = loop.dollar_ceiling, 0.0001
    try:
        body = await served.ask(SLOW_TEXT)
    finally:
        loop.dollar_ceiling = ceiling
    assert body["status"] == "escalated"
    escalation_id = served.engine.escalations.of_request(body["id"])
    assert escalation_id is not None
    return escalation_id


async def test_requests_latency_tokens_dollars_and_rule_hits_are_counted(served):
    oid, cid = delivered_order(served)
    by_rule = await served.ask(f"Where is my order #{oid}?", cid)
    assert by_rule["route"] == "rule"
    served.script.steps += [{"tool_calls": [tool_call("search_faq", {"query": "app crash"})]},
                            final("Try reinstalling the app.", intent="technical")]
    assert (await served.ask(SLOW_TEXT))["route"] == "llm"
    assert (await served.ask(""))["status"] == "rejected"

    samples = await scrape(served)
    requests = "agentcore_requests_total"
    assert sample(samples, requests, route="rule", status="answered") == 1
    assert sample(samples, requests, route="llm", status="answered") == 1
    assert sample(samples, requests, route="guard", status="rejected") == 1
    # Two scripted calls of 0.25 s each: the LLM answer took 0.5 s on the engine's clock.
    latency = "agentcore_request_duration_seconds"
    assert sample(samples, f"{latency}_count", route="llm") == 1
    assert sample(samples, f"{latency}_bucket", route="llm", le="0.25") == 0
    assert sample(samples, f"{latency}_bucket", route="llm", le="0.5") == 1
    assert sample(samples, f"{latency}_bucket", route="rule", le="0.001") == 1
    # The scripted endpoint bills 500 prompt and 50 completion tokens a call, at the
    # decide model's prices ($2.50 and $10 a million).
    model = served.engine.settings.llm.decide.model
    assert sample(samples, "agentcore_llm_tokens_total", model=model, kind="prompt") == 1000
    assert sample(samples, "agentcore_llm_tokens_total", model=model, kind="completion") == 100
    dollars = sample(samples, "agentcore_llm_cost_dollars_total", model=model)
    assert abs(dollars - (1000 * 2.5 + 100 * 10) / 1e6) < 1e-12
    assert sample(samples, "agentcore_llm_calls_total", model=model, result="ok") == 2
    hits = {dict(labels)["rule"]: v for (name, labels), v in samples.items()
            if name == "agentcore_rule_hits_total"}
    assert hits == {by_rule["rule_id"]: 1}
    assert sample(samples, "agentcore_requests_in_flight") == 0


async def test_escalations_waiting_their_oldest_age_and_lapsed_claims(served):
    assert sample(await scrape(served), "agentcore_escalations_waiting") == 0
    assert sample(await scrape(served),
                  "agentcore_escalation_oldest_waiting_age_seconds") == 0
    first = await escalate(served)
    served.clock.advance(90)
    await escalate(served)
    served.clock.advance(30)
    samples = await scrape(served)
    assert sample(samples, "agentcore_escalations_waiting") == 2
    assert sample(samples, "agentcore_escalation_oldest_waiting_age_seconds") == 120

    await served.engine.escalations.claim(first, "ana", lease_s=60)
    samples = await scrape(served)
    assert sample(samples, "agentcore_escalations_waiting") == 1
    assert sample(samples, "agentcore_escalations", state="claimed") == 1
    assert sample(samples, "agentcore_escalation_oldest_waiting_age_seconds") == 30
    assert sample(samples, "agentcore_escalation_lease_expiries_total") == 0

    served.clock.advance(61)  # Ana's lease ends: the item is anyone's again
    samples = await scrape(served)
    assert sample(samples, "agentcore_escalations_waiting") == 2
    assert sample(samples, "agentcore_escalations", state="claimed") == 0
    assert sample(samples, "agentcore_escalation_oldest_waiting_age_seconds") == 181
    assert sample(samples, "agentcore_escalation_lease_expiries_total") == 1
    # Counted once, however often it is scraped; a new claim that lapses counts again.
    assert sample(await scrape(served), "agentcore_escalation_lease_expiries_total") == 1
    await served.engine.escalations.claim(first, "bo", lease_s=10)
    served.clock.advance(11)
    assert sample(await scrape(served), "agentcore_escalation_lease_expiries_total") == 2


async def test_breaker_state_after_an_operator_forces_it_open(served):
    samples = await scrape(served)
    assert sample(samples, "agentcore_llm_breaker_state", state="closed") == 1
    assert sample(samples, "agentcore_llm_breaker_state", state="open") == 0
    served.engine.breaker.force_open()
    samples = await scrape(served)
    assert sample(samples, "agentcore_llm_breaker_state", state="open") == 1
    assert sample(samples, "agentcore_llm_breaker_state", state="closed") == 0
    assert sample(samples, "agentcore_llm_breaker_mode", mode="forced_open") == 1
    assert sample(samples, "agentcore_llm_breaker_transitions_total", state="open") == 1
    # Still ready: rules, cache and the ladder answer without the LLM; said as degraded.
    ready = await served.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    assert "switched off" in ready.json()["degraded"][0]


async def test_healthz_and_readyz_of_a_healthy_engine(served):
    health = await served.http.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = await served.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "problems": [], "degraded": []}


async def test_readyz_is_503_with_the_reason_when_the_store_is_closed(served):
    served.engine.store.close()
    ready = await served.http.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["ready"] is False
    assert any("closed" in p for p in body["problems"])
    assert (await served.http.get("/healthz")).status_code == 200  # the process answers
    assert (await served.http.get("/metrics")).status_code == 200  # and still tells what it can


async def test_readyz_is_503_when_the_database_file_is_gone(served):
    os.remove(served.engine.settings.engine_db)  # writes would go to an unlinked file
    ready = await served.http.get("/readyz")
    assert ready.status_code == 503
    assert any("gone" in p for p in ready.json()["problems"])


async def test_two_apps_over_two_registries_count_apart(served):
    """A second intake app in the same process (a console hosting one beside `serve`'s
    tests): no duplicated-timeseries clash, and each counts what it heard."""
    from aiohttp import web
    from prometheus_client import generate_latest

    from agentcore.telemetry import install
    from agentcore.telemetry._http import METRICS_KEY

    other = web.Application()
    install(other, served.engine)  # would raise on a shared global registry
    oid, cid = delivered_order(served)
    await served.ask(f"Where is my order #{oid}?", cid)
    await served.ask(f"Where is my order #{oid}?", cid)
    samples = await scrape(served)
    assert sample(samples, "agentcore_requests_total", route="rule", status="answered") == 1
    assert sample(samples, "agentcore_requests_total", route="cache-l1", status="answered") == 1
    text = generate_latest(other[METRICS_KEY].registry).decode()
    theirs = {(s.name, frozenset(s.labels.items())): s.value
              for f in text_string_to_metric_families(text) for s in f.samples}
    assert sample(theirs, "agentcore_requests_total", route="rule", status="answered") == 1


async def test_concurrent_requests_are_each_counted_once_and_none_left_in_flight(served):
    """Forty requests over HTTP at once, scraped while they run and after: every one
    counted, by the route that answered it, and the in-flight gauge back at zero."""
    import asyncio

    oid, cid = delivered_order(served)
    texts = [f"Where is my order #{oid}?", "", "hello", "what is your refund policy?"]
    jobs = [served.ask(texts[i % len(texts)], cid) for i in range(40)]
    scrapes = [scrape(served) for _ in range(5)]
    results = await asyncio.gather(*jobs, *scrapes)
    answers = results[:40]
    samples = await scrape(served)
    counted = {(dict(labels)["route"], dict(labels)["status"]): v
               for (name, labels), v in samples.items() if name == "agentcore_requests_total"}
    expected: dict[tuple[str, str], int] = {}
    for body in answers:
        key = (body["route"], body["status"])
        expected[key] = expected.get(key, 0) + 1
    assert counted == expected and sum(counted.values()) == 40
    assert sample(samples, "agentcore_requests_in_flight") == 0
    assert sum(v for (name, _), v in samples.items()
               if name == "agentcore_request_duration_seconds_count") == 40
