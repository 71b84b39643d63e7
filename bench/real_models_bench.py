"""The slow path against real small models: llama.cpp's server with SmolLM2-135M and
Gemma 3 270M (from PyPI wheels, see bench/llama_server.py), beside the mock LLM.

    rows: list[str] = []
    real_models_bench.run(rows)   # markdown lines for bench/RESULTS.md

For each model the same slow-path rows of data/requests.jsonl (rows no shipped rule
answers, a few of every labelled intent) go through a whole engine set up as
`agentcore.endpoints.for_endpoint` sets it up for that endpoint, at the replay's
concurrency of 8. Reported: answered (per rung) and escalated (per reason), intent
accuracy against the corpus' labels, tool calls that reached a tool, p50/p95 per
request, lost requests (no outcome on disk) and writes past policy; the last two
must be 0 whatever the model does.

The corpus helpers and the write audit here are shared with tests/real/.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentcore import Engine, KeyringCredentials, Outcome, Settings
from agentcore.demo_shop.domain import RESOURCES
from agentcore.demo_shop.handlers import shop_handlers
from agentcore.demo_shop.repository import Shop
from agentcore.endpoints import for_endpoint
from agentcore.guard import normalise
from agentcore.replay import load_corpus, replay
from agentcore.router import Router
from agentcore.settings import REPO_ROOT
from agentcore.stored_rules import default_rules
from bench.llama_server import FailedCall, Server, failed_calls

CORPUS = REPO_ROOT / "data" / "requests.jsonl"
ROWS_PER_MODEL = int(os.environ.get("BENCH_REAL_ROWS", "24"))  # ~20 s each on 2 cores
HARD_BOUND_S = 3600.0  # a run longer than this is a hang, reported as lost
SERVER_LOG_DIR = Path(tempfile.gettempdir()) / "bench-llama-logs"

HEADER = ["| model | requests | answered (per rung) | escalated (by reason) | degraded "
          "| intent right "
          "| tool calls reaching a tool | calls the server failed | p50 / p95 per request "
          "(waiting included) | lost | writes past policy | wall (per request) |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]


# -- the corpus slice ------------------------------------------------------------


def slow_path_rows(limit: int, settings: Settings | None = None) -> list[dict[str, Any]]:
    """`limit` rows of the corpus that no shipped rule answers and that carry a labelled
    intent, taken round-robin over the intents (most frequent first) so a small slice
    still spans refunds, cancellations, billing, accounts and the rest."""
    rules, fragments = default_rules(RESOURCES)
    routing_only = shop_handlers(None)  # type: ignore[arg-type]  # no handler runs here
    router = Router([r for r in rules if r.enabled], routing_only, fragments=fragments)
    by_intent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in load_corpus(CORPUS):
        text = row.get("text")
        if (isinstance(text, str) and row.get("expected_intent")
                and normalise(text) and router.route(normalise(text)) is None):
            by_intent[row["expected_intent"]].append(row)
    queues = sorted(by_intent.values(), key=len, reverse=True)
    picked: list[dict[str, Any]] = []
    while len(picked) < limit and any(queues):
        for queue in queues:
            if queue and len(picked) < limit:
                picked.append(queue.pop(0))
    return picked


# -- what the engine did to the shop ---------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderBefore:
    customer_id: int
    allowed_cents: int  # what the refund policy allowed before the run
    left_cents: int  # what was left of what was paid


def policy_snapshot(shop: Shop) -> dict[int, OrderBefore]:
    """Every order's owner and refund limits, read before any request runs: a write
    during the run can only lower them, so a refund above these went past policy."""
    snapshot = {}
    for (order_id,) in shop.conn.execute("SELECT id FROM orders").fetchall():
        order = shop.get_order(order_id)
        limits = shop.refund_limits(order_id)
        if order is None or limits is None:
            continue
        snapshot[order_id] = OrderBefore(int(order["customer_id"]), limits.quote.allowed_cents,
                                         limits.left_cents)
    return snapshot


def writes_past_policy(shop: Shop, before: dict[int, OrderBefore],
                       outcomes: list[Outcome]) -> list[str]:
    """Each write the shop recorded for these requests that went past what it may do:
    a refund above the policy's quote (or above what was paid), or any write on
    somebody else's order or account. Empty when the promise held."""
    problems = []
    refunded: Counter[int] = Counter()
    for outcome in outcomes:
        customer = outcome.request.customer_id
        for action in shop.actions_for(outcome.request_id):
            # The shop keys each write `request:tool:target`, the target `order:N` or
            # `customer:N`: what it acted on, whatever the arguments said.
            _, tool, target = str(action["key"]).split(":", 2)
            kind, _, ident = target.partition(":")
            owner = (before[int(ident)].customer_id if kind == "order" and int(ident) in before
                     else int(ident) if kind == "customer" else None)
            if owner != customer:
                problems.append(f"{outcome.request_id}: {tool} on {target} for customer "
                                f"{customer}, whose it is not")
            if tool == "issue_refund":
                result = json.loads(action["result"])
                refunded[int(ident)] += int(result.get("amount_cents", 0))
    for order_id, cents in refunded.items():
        limits = before.get(order_id)
        if limits is None or cents > min(limits.allowed_cents, limits.left_cents):
            allowed = limits.allowed_cents if limits else 0
            problems.append(f"order {order_id}: refunded {cents} cents where the policy "
                            f"allowed {allowed}")
    return problems


def tool_calls_reached(outcome: Outcome, *, by: str = "model") -> int:
    """Tool calls whose function ran: a `tool:` span with parsed arguments (an unknown
    name or unparsable arguments never reach one). `by` "model": the calls the model
    asked for, not a repeat answered from its first result; "engine": the lookups the
    engine made itself for the refund quote."""
    def ran(attributes: dict[str, Any]) -> bool:
        if "arguments" not in attributes or attributes.get("repeated"):
            return False
        return (attributes.get("by") == "engine") == (by == "engine")

    return sum(1 for s in outcome.spans if s.name.startswith("tool:") and ran(s.attributes))


def stored_statuses(engine: Engine, outcomes: list[Outcome]) -> dict[str, str]:
    """Each request's status on disk; one still 'accepted' (or missing) is lost."""
    ids = [o.request_id for o in outcomes]
    statuses = {rid: engine.store.requests.status(rid) for rid in ids}
    return {rid: status for rid, status in statuses.items() if status is not None}


class NoKey(KeyringCredentials):
    """No API key, as a local server's user has none (and never the OS keyring's)."""

    def get(self, name: str) -> str | None:
        return None


# -- one model's run ---------------------------------------------------------------


@dataclass(slots=True)
class ModelRun:
    label: str
    rows: list[dict[str, Any]]
    outcomes: list[Outcome] = field(default_factory=list)
    lost: int = 0
    past_policy: list[str] = field(default_factory=list)
    server_failures: list[FailedCall] | None = None  # from the server's log; None: no server
    wall_s: float = 0.0
    note: str = ""

    def table_row(self) -> str:
        answered: Counter[str] = Counter()
        escalated: Counter[str] = Counter()
        for o in self.outcomes:
            if o.status == "answered":
                answered[o.rung or str(o.route)] += 1
            else:
                escalated[str(o.escalation_reason or o.status)] += 1
        labelled = [(o, r) for o, r in zip(self.outcomes, self.rows, strict=False)
                    if r.get("expected_intent")]
        right = sum(1 for o, r in labelled if o.intent == r["expected_intent"])
        latencies = sorted(o.latency_ms / 1000 for o in self.outcomes)
        p50 = statistics.median(latencies) if latencies else 0.0
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else 0
        tools = sum(tool_calls_reached(o) for o in self.outcomes)
        lookups = sum(tool_calls_reached(o, by="engine") for o in self.outcomes)
        failed = "—"
        if self.server_failures is not None:
            probes = sum(f.format_refused for f in self.server_failures)
            failed = f"{len(self.server_failures)}" + (
                f" ({probes} response_format probe{'s' * (probes != 1)})" if probes else "")

        def counts(c: Counter[str]) -> str:
            return ", ".join(f"{k} {n}" for k, n in c.most_common()) or "—"

        degraded = sum(1 for o in self.outcomes if o.rung is not None)
        return (f"| {self.label} | {len(self.rows)} | {counts(answered)} | {counts(escalated)} "
                f"| {degraded} | {right}/{len(labelled)} | {tools} (+{lookups} by the engine) "
                f"| {failed} | {p50:.1f} s / {p95:.1f} s | {self.lost} "
                f"| {len(self.past_policy)} | {self.wall_s:.0f} s "
                f"({self.wall_s / max(1, len(self.rows)):.1f} s) |")


async def run_rows(settings: Settings, rows: list[dict[str, Any]], label: str, *,
                   hard_bound_s: float = HARD_BOUND_S,
                   credentials: KeyringCredentials | None = None,
                   server: Server | None = None) -> ModelRun:
    """`rows` through a whole engine on `settings`, audited: lost requests, writes
    past policy. A run past `hard_bound_s` is a hang: every request counts as lost.
    `credentials`: where the API key comes from (default: none, as for a local server);
    `server`: the llama.cpp server serving it, whose log is read for failed calls."""
    run = ModelRun(label, rows)
    engine = Engine(settings, credentials=credentials or NoKey())
    log_start = server.log_size() if server else 0
    try:
        before = policy_snapshot(engine.domain.shop)
        started = time.perf_counter()
        try:
            run.outcomes, _ = await asyncio.wait_for(
                replay(engine, rows, concurrency=8, progress=False), hard_bound_s)
        except TimeoutError:
            run.note = f"stopped after {hard_bound_s:.0f} s: a hang"
        run.wall_s = time.perf_counter() - started
        stored = stored_statuses(engine, run.outcomes) if run.outcomes else {}
        run.lost = len(rows) - sum(1 for s in stored.values() if s != "accepted")
        run.past_policy = writes_past_policy(engine.domain.shop, before, run.outcomes)
    finally:
        await engine.close()
    if server is not None:
        run.server_failures = failed_calls(server.log_text(1 << 30, since=log_start))
    return run


def _settings(data_dir: Path, base_url: str | None) -> Settings:
    return for_endpoint(Settings(data_dir=data_dir),
                        base_url)


def run(lines: list[str]) -> None:
    """The section of bench/RESULTS.md: one table row per model, or why a model is missing."""
    from bench import llama_server
    from bench.workloads import fresh_data_dir

    rows = slow_path_rows(ROWS_PER_MODEL)
    runs = [asyncio.run(run_rows(_settings(fresh_data_dir(), None), rows,
                                 "mock LLM (in process)"))]
    notes = []
    try:
        python = llama_server.ensure_runtime()
        models = llama_server.available_models(python)
    except llama_server.BuildFailed as exc:
        models = []
        notes.append("llama.cpp's server is not available here, so no real model was run: "
                     + str(exc).splitlines()[0])
    SERVER_LOG_DIR.mkdir(parents=True, exist_ok=True)
    for model in models:
        log_path = SERVER_LOG_DIR / f"{model.key}.log"
        try:
            with llama_server.llama_server(python, model, log_path) as server:
                runs.append(asyncio.run(run_rows(_settings(fresh_data_dir(), server.base_url),
                                                 rows, f"{model.label}, llama.cpp server",
                                                 server=server)))
        except RuntimeError as exc:
            notes.append(f"{model.label}: the server did not start ({str(exc).splitlines()[0]})"
                         f"; its log: {log_path}")
    intents = Counter(r["expected_intent"] for r in rows)
    lines += [f"The same {len(rows)} slow-path rows of data/requests.jsonl for each model "
              f"({', '.join(f'{k} {n}' for k, n in intents.most_common())}), through the whole "
              "engine with the settings `for_endpoint` gives that endpoint, 8 requests at once "
              "(on a one-slot server a request's latency includes waiting for the slot; the "
              "wall time per request is the time each held it). "
              f"llama.cpp's server: llama-cpp-python 0.3.36, `--chat_format "
              f"chatml-function-calling`, n_ctx {llama_server.N_CTX}, "
              f"{llama_server.N_THREADS} threads, one slot. Lost and writes past policy "
              "must be 0.", "", *HEADER, *(r.table_row() for r in runs)]
    for r in runs:
        if r.note:
            notes.append(f"{r.label}: {r.note}")
        notes.extend(f"{r.label}: {p}" for p in r.past_policy[:5])
    if notes:
        lines += ["", *(f"- {n}" for n in notes)]
