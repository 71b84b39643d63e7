"""`agentcore check`, the model flags and `ask`'s exit status, as a user runs them: the
CLI in its own process against the mock LLM in another, or against a stand-in
endpoint over real HTTP on loopback (a server that wants a key, reports its slots,
or serves only under /v1). The key, where there is one, is in the test keyring the
child reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.keyring_backend import FileKeyring
from tests.processes import mock_llm_process
from tests.standin_llm import MODEL, standin_llm

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-local-7d1e5a9c3b"
SLOW_PATH = "my app keeps crashing and nothing helps"


def agentcore(tmp_path: Path, *args: str, key: str | None = None
              ) -> subprocess.CompletedProcess[str]:
    backend = FileKeyring(tmp_path / "keyring.json")
    if key is not None:
        backend.set_password("agent-console", "default", key)
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "xdg"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), **backend.child_env())
    return subprocess.run([sys.executable, "-m", "agentcore", "--data-dir",
                           str(tmp_path / "data"), *args],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=120)


def lines(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """`check`'s output: what was checked -> what it says."""
    found = {}
    for line in result.stdout.splitlines():
        what, _, said = line.partition("  ")
        found[what.strip()] = said.strip()
    return found


@pytest.fixture(scope="module")
def mock_llm_url():
    with mock_llm_process() as url:
        yield url


# -- check ------------------------------------------------------------------------------


def test_a_local_server_that_wants_no_key_passes_without_one(tmp_path, mock_llm_url):
    result = agentcore(tmp_path, "--base-url", mock_llm_url, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    said = lines(result)
    assert said["endpoint"].startswith(f"OK: {mock_llm_url} answered in")
    assert said["model gpt-4o"] == said["model gpt-4o-mini"] == "OK: available"
    assert said["API key"] == "OK: no API key is stored; the endpoint accepted none"
    assert said["profile"].startswith("local server: 1 call in flight, 180 s per call")
    assert "no token prices" in said["profile"]


def test_a_stored_key_is_reported_accepted(tmp_path, mock_llm_url):
    result = agentcore(tmp_path, "--base-url", mock_llm_url, "check", key=KEY)
    assert result.returncode == 0
    assert lines(result)["API key"] == "OK: the endpoint accepted the key"
    assert KEY not in result.stdout + result.stderr


def test_a_model_the_server_does_not_have_is_named_with_exit_6(tmp_path, mock_llm_url):
    result = agentcore(tmp_path, "--base-url", mock_llm_url, "--decide-model", "smollm2",
                       "check")
    assert result.returncode == 6
    said = lines(result)
    assert said["model smollm2"] == f"FAILED: not found at {mock_llm_url}"
    assert said["model gpt-4o-mini"] == "OK: available"


def test_a_base_url_without_v1_is_a_wrong_path_not_a_missing_model(tmp_path):
    with standin_llm() as server:
        result = agentcore(tmp_path, "--base-url", server.root, "--model", MODEL, "check")
    assert result.returncode == 4, result.stdout + result.stderr
    said = lines(result)
    assert said["endpoint"] == (f"FAILED: the server answers at {server.root}/v1: add /v1 "
                                "to the base URL")
    assert said[f"model {MODEL}"] == "not checked"
    assert "not found" not in result.stdout


def test_the_same_server_with_v1_passes(tmp_path):
    with standin_llm() as server:
        result = agentcore(tmp_path, "--base-url", server.base_url, "--model", MODEL, "check")
    assert result.returncode == 0, result.stdout
    assert lines(result)[f"model {MODEL}"] == "OK: available"


@pytest.mark.parametrize("public_models", [False, True])
def test_a_server_that_wants_a_key_says_so_when_none_is_stored(tmp_path, public_models):
    with standin_llm(key=KEY, public_models=public_models) as server:
        result = agentcore(tmp_path, "--base-url", server.base_url, "--model", MODEL, "check")
    assert result.returncode == 5, result.stdout
    assert lines(result)["API key"] == ("FAILED: the endpoint wants an API key: none is "
                                        "stored under 'default'")


def test_a_wrong_key_is_refused_and_the_right_one_accepted(tmp_path):
    with standin_llm(key=KEY) as server:
        wrong = agentcore(tmp_path, "--base-url", server.base_url, "--model", MODEL, "check",
                          key="sk-wrong-000")
        right = agentcore(tmp_path, "--base-url", server.base_url, "--model", MODEL, "check",
                          key=KEY)
    assert wrong.returncode == 5 and lines(wrong)["API key"] == (
        "FAILED: the API key was refused (401)")
    assert right.returncode == 0 and lines(right)["API key"] == (
        "OK: the endpoint accepted the key")


def test_the_slots_a_local_server_reports_set_the_calls_in_flight(tmp_path):
    with standin_llm(slots=4) as server:
        chosen = agentcore(tmp_path, "--base-url", server.base_url, "--model", MODEL, "check")
        overridden = agentcore(tmp_path, "--base-url", server.base_url, "--model", MODEL,
                               "--max-in-flight", "2", "check")
    assert chosen.returncode == 0
    assert lines(chosen)["server"] == "local; it reports 4 slots (GET /props)"
    assert lines(chosen)["profile"].startswith("local server: 4 calls in flight")
    assert lines(overridden)["server"] == "local; it reports 4 slots (GET /props)"
    assert lines(overridden)["profile"].startswith("local server: 2 calls in flight")


def test_a_closed_port_is_unreachable_with_exit_3(tmp_path):
    result = agentcore(tmp_path, "--base-url", "http://127.0.0.1:9/v1", "check")
    assert result.returncode == 3
    said = lines(result)
    assert said["endpoint"].startswith("FAILED: unreachable: http://127.0.0.1:9/v1")
    assert said["API key"].startswith("not checked")


def test_json_for_machines_says_the_same(tmp_path):
    with standin_llm(slots=2) as server:
        result = agentcore(tmp_path, "--base-url", server.root, "--model", MODEL, "check",
                           "--json")
    report = json.loads(result.stdout)
    assert result.returncode == report["exit_code"] == 4
    assert (report["ok"], report["kind"], report["slots"]) == (False, "wrong_path", 2)
    assert report["checks"][0] == {"check": "endpoint", "ok": False,
                                   "message": report["message"]}
    assert report["profile"]["max_in_flight"] == 2 and not report["profile"]["retry_timeouts"]


def test_a_hosted_endpoint_keeps_the_hosted_profile(tmp_path):
    # Never reached (a name that does not resolve): only the profile line is looked at.
    result = agentcore(tmp_path, "--base-url", "https://llm.invalid/v1", "check")
    assert result.returncode == 3
    said = lines(result)
    assert "server" not in said
    assert said["profile"].startswith("no limit on calls in flight, 30 s per call")


@pytest.mark.parametrize(("args", "says"), [
    (["--model", ""], "argument --model: a model name is needed"),
    (["--decide-model", "  "], "argument --decide-model: a model name is needed"),
    (["--model", "gpt 4o"], "a model name has no spaces"),
    (["--max-in-flight", "0"], "argument --max-in-flight: 0: from 1 to 1024 calls"),
    (["--max-in-flight", "one"], "a whole number of calls"),
    (["--no-classify", "--classify-model", "x"], "--no-classify drops the stage"),
    (["--base-url", "localhost:8080/v1"], "must start with http:// or https://"),
])
def test_bad_flags_get_a_clear_error_and_exit_2(tmp_path, args, says):
    result = agentcore(tmp_path, *args, "check")
    assert result.returncode == 2 and says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_help_documents_the_exit_codes():
    top = subprocess.run([sys.executable, "-m", "agentcore", "--help"], capture_output=True,
                         text=True, cwd=REPO, timeout=60)
    check = subprocess.run([sys.executable, "-m", "agentcore", "check", "--help"],
                           capture_output=True, text=True, cwd=REPO, timeout=60)
    ask = subprocess.run([sys.executable, "-m", "agentcore", "ask", "--help"],
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    assert "--model NAME" in top.stdout and "--max-in-flight N" in top.stdout
    assert "4  the base URL's path is wrong" in check.stdout
    assert "1\nescalated because the set-up is broken" in ask.stdout


# -- the models the engine calls ------------------------------------------------------


def test_model_flags_pick_the_model_of_each_stage(tmp_path):
    with standin_llm(models=("small", "large")) as server:
        every = agentcore(tmp_path, "--base-url", server.base_url, "--model", "small", "ask",
                          SLOW_PATH, "--customer", "1", key=KEY)
        assert set(server.chat_models) == {"small"}
        server.chat_models.clear()
        # Only a text nothing local knows the intent of needs the classify stage.
        per_stage = agentcore(tmp_path, "--base-url", server.base_url, "--classify-model",
                              "small", "--decide-model", "large", "ask",
                              "something strange happened, can you look into it",
                              "--customer", "1", key=KEY)
        classify, decide = server.chat_models[0], server.chat_models[1:]
        server.chat_models.clear()
        no_classify = agentcore(tmp_path, "--base-url", server.base_url, "--decide-model",
                                "large", "--no-classify", "ask", SLOW_PATH + "?",
                                "--customer", "1", key=KEY)
        only_decide = list(server.chat_models)
    assert every.returncode == per_stage.returncode == no_classify.returncode == 0, (
        every.stderr[-2000:])
    assert classify == "small" and decide and set(decide) == {"large"}
    assert only_decide and set(only_decide) == {"large"}
    # A local server costs nothing per token: the profile dropped the hosted prices.
    assert json.loads(every.stdout)["dollars"] == 0


# -- ask's exit status ----------------------------------------------------------------


def test_ask_exits_0_for_an_answer_and_for_a_customer_asking_for_a_human(
        tmp_path, mock_llm_url):
    answered = agentcore(tmp_path, "--base-url", mock_llm_url, "ask", SLOW_PATH,
                         "--customer", "1", key=KEY)
    human = agentcore(tmp_path, "--base-url", mock_llm_url, "ask",
                      "I want to talk to a real person right now", "--customer", "2", key=KEY)
    assert answered.returncode == 0 and json.loads(answered.stdout)["status"] == "answered"
    escalated = json.loads(human.stdout)
    assert human.returncode == 0, escalated
    assert (escalated["status"], escalated["escalation"]) == (
        "escalated", "customer asked for a human")


def test_ask_exits_1_when_the_llm_cannot_be_reached(tmp_path):
    # A request the ladder has no static answer for: it escalates, and says why.
    result = agentcore(tmp_path, "--base-url", "http://127.0.0.1:9/v1", "ask",
                       "I want to speak to a lawyer about my data", "--customer", "1", key=KEY)
    printed = json.loads(result.stdout)
    assert result.returncode == 1, printed
    assert printed["status"] == "escalated" and printed["escalation"] == "llm unavailable"


def test_ask_reports_a_degraded_answer_as_its_rung(tmp_path):
    # The LLM is unreachable; a template of the intent answers, and says it is one.
    result = agentcore(tmp_path, "--base-url", "http://127.0.0.1:9/v1", "ask",
                       "wie lange dauert der versand nach österreich? und was kostet shipping",
                       "--customer", "1")
    printed = json.loads(result.stdout)
    assert (printed["status"], printed["route"], printed["rung"]) == (
        "answered", "template", "template")
    assert printed["degraded"] is True and result.returncode == 0
