"""The slow path against a real model: SmolLM2-135M behind llama.cpp's server, through
real HTTP and the real openai SDK, on corpus rows no rule answers.

A 135M model answers badly; what is asserted is what it cannot fake and what the
engine owes the operator whatever the model says: the tools reach the model (they
are in its prompt, and tool calls come back and run), the server never fails on the
messages we send, nothing is lost or an internal error, a healthy local server is
never reported unavailable, degraded answers say their rung, no write goes past
its policy, and no request outlives its deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from agentcore import EscalationReason, Outcome, Route, Settings, Status
from agentcore.demo_shop.domain import RESOURCES
from agentcore.demo_shop.intents import INTENTS
from agentcore.demo_shop.tools import shop_registry
from agentcore.endpoints import for_endpoint, server_root
from agentcore.prompts import Prompts
from agentcore.storage import Store
from bench.llama_server import FailedCall, Server, failed_calls
from bench.real_models_bench import ModelRun, run_rows, slow_path_rows, tool_calls_reached
from tests.keyring_backend import FileKeyring

pytestmark = pytest.mark.real

REPO = Path(__file__).resolve().parents[2]
SLICE = 12  # rows through the engine; ~20 s each for SmolLM2 on 2 cores, one slot
HANG_S = 1800.0  # far beyond any honest run of the slice: only a hang gets here
CLI_TIMEOUT_S = 900.0
UNAVAILABLE = (EscalationReason.LLM_UNAVAILABLE, EscalationReason.BREAKER_OPEN)


def data_dir(tmp: Path, shop_template: Path) -> Path:
    data = tmp / "data"
    data.mkdir()
    shutil.copy(shop_template, data / "shop.sqlite")
    return data


@pytest.fixture(scope="module")
def slice_settings(llama: Server, shop_template: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = data_dir(tmp_path_factory.mktemp("slice"), shop_template)
    return for_endpoint(Settings(data_dir=data),
                        llama.base_url)


@pytest.fixture(scope="module")
def run(slice_settings: Settings, llama: Server) -> ModelRun:
    """The slice through one engine, 8 at once as the replay sends them, audited."""
    rows = slow_path_rows(SLICE, slice_settings)
    assert len(rows) == SLICE
    # No API key (run_rows' default): a local server's user has none to give.
    return asyncio.run(run_rows(slice_settings, rows, "SmolLM2", hard_bound_s=HANG_S,
                                server=llama))


def tokens(server: Server, text: str) -> int:
    """How many tokens the served model's tokenizer makes of `text`."""
    request = urllib.request.Request(
        f"{server_root(server.base_url)}/extras/tokenize",
        data=json.dumps({"input": text}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return len(json.loads(response.read())["tokens"])


def first_decide_prompt(outcome: Outcome) -> int | None:
    """Prompt tokens of a request's first decide call (`llm[1]`, always offered the
    tools), where it completed and its prompt is the system prompt and the customer's
    text alone: before it the engine looked up no order to add to the prompt."""
    spans = outcome.spans
    first = next((s for s in spans if s.name == "llm[1]"), None)
    if first is None or not first.attributes.get("prompt_tokens"):
        return None
    if any(s.attributes.get("by") == "engine" and s.start < first.start for s in spans):
        return None
    return int(first.attributes["prompt_tokens"])


def all_errors(outcome: Outcome) -> list[str]:
    return [*outcome.errors, *(s.error for s in outcome.spans if s.error)]


def brief(outcome: Outcome) -> str:
    """One line per outcome for a failure message: a validation error runs to pages."""
    errors = "; ".join(e[:200] for e in outcome.errors)
    return (f"{outcome.request.text[:60]!r}: {outcome.route}/{outcome.status}"
            f" {outcome.escalation_reason or outcome.rung or ''} [{errors}]")


def test_every_request_has_an_outcome_on_disk(run: ModelRun):
    assert len(run.outcomes) == len(run.rows), run.note
    assert run.lost == 0, f"{run.lost} requests were left without an outcome on disk"


def test_the_tools_reach_the_model(run: ModelRun, llama: Server, slice_settings: Settings):
    """The server renders the tool schemas into the prompt only when `tool_choice` is
    sent: a decide prompt must be the system prompt, the customer's text AND the tools
    (without them it was ~320 tokens; the tools add ~900)."""
    prompts = Prompts.load(RESOURCES, INTENTS)
    today = "2026-01-01"  # the date's digits cost the same tokens whatever the day
    measured = []
    for outcome in run.outcomes:
        prompt = first_decide_prompt(outcome)
        if prompt is None:
            continue
        customer = outcome.request.customer_id
        schemas, _ = shop_registry(None).schemas_for(customer is not None)  # schemas only
        tool_tokens = tokens(llama, json.dumps(schemas))
        without = (tokens(llama, prompts.decide_for(outcome.intent, customer, today))
                   + tokens(llama, outcome.request.text))
        measured.append((outcome.request.text[:40], prompt, without, tool_tokens))
    assert len(measured) >= 3, (f"only {len(measured)} first decide calls completed on a "
                                "bare prompt, too few to measure:\n"
                                + "\n".join(brief(o) for o in run.outcomes))
    short = [m for m in measured if m[1] < m[2] + 0.75 * m[3]]
    assert not short, ("decide prompts without the tools in them (text, prompt tokens, "
                       f"tokens without tools, tool schema tokens): {short}")


def test_tool_calls_come_back_and_reach_the_tools(run: ModelRun):
    asked = [name for o in run.outcomes for s in o.spans if s.name.startswith("llm[")
             for name in s.attributes.get("tool_calls", [])]
    ran = sum(tool_calls_reached(o) for o in run.outcomes)  # not the engine's own lookups
    assert asked, "the model returned no tool call in the whole slice"
    assert ran, f"the model asked for {asked}, and none of them reached a tool"


def assert_server_took_our_messages(failures: list[FailedCall] | None) -> None:
    """The server's log: no call failed, but for one probe of an engine finding out that
    llama-cpp-python takes no `json_schema` response_format (it answers 500)."""
    assert failures is not None
    ours = [f for f in failures if not f.format_refused]
    assert not ours, "the server failed on what the engine sent:\n" + "\n---\n".join(
        f"HTTP {f.status}: {f.error[-800:]}" for f in ours[:3])
    probes = [f for f in failures if f.format_refused]
    assert len(probes) <= 1, f"the response_format was probed {len(probes)} times, not once"


def test_the_server_never_fails_on_our_messages(run: ModelRun):
    failed = [brief(o) for o in run.outcomes
              if any(re.search(r"HTTP (400|422|5\d\d)", e) for e in all_errors(o))]
    assert not failed, "the server refused what the engine sent:\n" + "\n".join(failed)
    assert_server_took_our_messages(run.server_failures)


def test_no_request_is_an_internal_error(run: ModelRun):
    internal = [brief(o) for o in run.outcomes
                if o.escalation_reason is EscalationReason.INTERNAL_ERROR]
    assert not internal, "\n".join(internal)


def test_a_healthy_local_server_is_never_reported_unavailable(run: ModelRun):
    """One slot, eight requests at once: they wait for it. A timeout or an open breaker
    against a server that answers every call is the engine's own doing."""
    unavailable = [brief(o) for o in run.outcomes
                   if o.escalation_reason in UNAVAILABLE
                   or any(f"degraded ({r})" in e for r in UNAVAILABLE for e in o.errors)]
    assert not unavailable, "\n".join(unavailable)


def test_degraded_answers_say_their_rung_never_rule(run: ModelRun):
    """No shipped rule answers these rows: a 'rule' route is a ladder answer disguised."""
    disguised = [brief(o) for o in run.outcomes if o.route is Route.RULE]
    assert not disguised, "\n".join(disguised)
    unmarked = [o.request.text for o in run.outcomes
                if any(e.startswith("degraded") for e in o.errors) and o.rung is None]
    assert not unmarked


def test_every_request_is_given_an_intent(run: ModelRun):
    """The feed's intent column: the classify reply, or the keyword classifier when a
    small model's reply is unusable."""
    missing = [o.request.text for o in run.outcomes
               if o.status is not Status.REJECTED and o.intent not in INTENTS]
    assert not missing, missing


def test_no_write_goes_past_its_policy(run: ModelRun):
    assert run.past_policy == []


def test_no_request_outlives_its_deadline(run: ModelRun, slice_settings: Settings):
    deadline_s = slice_settings.resilience.request_deadline_s
    assert deadline_s is not None, "a local endpoint's requests must have a deadline"
    grace_s = 30.0  # the ladder and the outcome's write after the loop stops
    late = [(o.request.text, round(o.latency_ms / 1000)) for o in run.outcomes
            if o.latency_ms > (deadline_s + grace_s) * 1000]
    assert not late, late


# -- the command line, as a user of a local server runs it -------------------------


def cli(tmp_path: Path, shop_template: Path, server: Server, *args: str
        ) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`python -m agentcore --base-url SERVER ARGS...` with no API key; checks the
    server's log of the run as the engine's own run is checked."""
    data = data_dir(tmp_path, shop_template)
    backend = FileKeyring(tmp_path / "keyring.json")  # empty: a local server needs no key
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "xdg"), **backend.child_env())
    log_start = server.log_size()
    result = subprocess.run(
        [sys.executable, "-m", "agentcore", "--data-dir", str(data), "--base-url",
         server.base_url, *args], capture_output=True, text=True, cwd=REPO, env=env,
        timeout=CLI_TIMEOUT_S)
    assert_server_took_our_messages(failed_calls(server.log_text(1 << 30, since=log_start)))
    return result, data


def test_ask_on_the_command_line_reaches_the_model(tmp_path, shop_template, llama: Server):
    [row] = [r for r in slow_path_rows(40) if r["expected_intent"] == "billing"][:1]
    result, _ = cli(tmp_path, shop_template, llama, "ask", row["text"],
                    "--customer", str(row["customer_id"]))
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout)
    assert outcome["route"] != "rule", outcome
    assert outcome["escalation"] not in ("internal error", "llm unavailable", "breaker open"), \
        outcome
    assert not [e for e in outcome["errors"] if "HTTP 5" in e or "API key" in e], outcome
    completed = [s for s in outcome["spans"] if s["name"].startswith("llm[") and not s["error"]]
    assert completed, f"no decide call was answered: {outcome}"


def test_replay_on_the_command_line_answers_every_request(tmp_path, shop_template,
                                                          llama: Server):
    """The corpus' first 20 lines: mostly the fast path, four for the model, 8 at once."""
    result, data = cli(tmp_path, shop_template, llama, "replay",
                       str(REPO / "data" / "requests.jsonl"), "--limit", "20", "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replayed 20 of 20 requests" in result.stdout, result.stdout
    for problem in ("internal error", "llm unavailable", "breaker open"):
        assert problem not in result.stdout, result.stdout
    store = Store(data / "agent.sqlite")
    try:
        counted = store.requests.counts()
        routes = {str(o.route) for o in store.requests.outcomes()}
    finally:
        store.close()
    assert sum(counted.values()) == 20 and "accepted" not in counted, counted
    assert {"rule", "llm"} <= routes, routes
