"""`check_connection` tells an operator what is wrong with an endpoint, headless.

A scripted endpoint (an httpx2 `MockTransport` behind the real openai client)
answers each path as the test says; the check goes through the same SDK calls
it makes against a real server.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx2
import openai
import pytest

from agentcore.connection_check import CheckStep, check_connection
from agentcore.settings import LLMSettings, StageModel

URL = "http://scripted.llm/v1"
KEY = "sk-live-0123456789abcdef"

Handler = Callable[[httpx2.Request], httpx2.Response]


def error(status: int, message: str, code: str | None = None) -> httpx2.Response:
    return httpx2.Response(status, json={"error": {"message": message, "type": "x",
                                                   "code": code}})


def model(name: str) -> httpx2.Response:
    return httpx2.Response(200, json={"id": name, "object": "model", "created": 0,
                                      "owned_by": "test"})


def chat(body: dict) -> httpx2.Response:
    return httpx2.Response(200, json={
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
        "choices": [{"index": 0, "finish_reason": "length",
                     "message": {"role": "assistant", "content": "p"}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


class Endpoint:
    """Records what the check asked and which key it sent."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.seen: list[str] = []
        self.keys: set[str] = set()

    def _respond(self, request: httpx2.Request) -> httpx2.Response:
        self.seen.append(f"{request.method} {request.url.path}")
        self.keys.add(request.headers.get("authorization", ""))
        return self.handler(request)

    def factory(self, llm: LLMSettings, api_key: str) -> openai.AsyncOpenAI:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(self._respond))
        return openai.AsyncOpenAI(base_url=llm.base_url, api_key=api_key, http_client=http,
                                  max_retries=0)


def llm(**changes) -> LLMSettings:
    return LLMSettings(base_url=URL, **changes)


async def test_ok_names_the_models_and_the_round_trip():
    endpoint = Endpoint(lambda r: model(r.url.path.rsplit("/", 1)[-1]))
    report = await check_connection(llm(), KEY, client_factory=endpoint.factory)
    assert report.ok and report.kind == "ok" and report.latency_ms is not None
    assert "gpt-4o" in report.message and "gpt-4o-mini" in report.message
    assert endpoint.seen == ["GET /v1/models/gpt-4o", "GET /v1/models/gpt-4o-mini"]
    assert endpoint.keys == {f"Bearer {KEY}"}


async def test_a_refused_key_is_a_401_not_an_unreachable_endpoint():
    endpoint = Endpoint(lambda r: error(401, f"Incorrect API key provided: {KEY}"))
    report = await check_connection(llm(), KEY, client_factory=endpoint.factory)
    assert (report.ok, report.kind) == (False, "auth")
    assert report.message == "the API key was refused (401)"


async def test_a_forbidden_model_is_a_403():
    endpoint = Endpoint(lambda r: error(403, "not allowed"))
    report = await check_connection(llm(), KEY, client_factory=endpoint.factory)
    assert report.kind == "forbidden" and "403" in report.message


async def test_a_missing_model_is_named():
    def handler(request: httpx2.Request) -> httpx2.Response:
        name = request.url.path.rsplit("/", 1)[-1]
        if name == "gpt-5-nano":
            return error(404, f"The model '{name}' does not exist", "model_not_found")
        return model(name)

    decide = StageModel(model="gpt-5-nano", input_per_mtok=1, output_per_mtok=1)
    endpoint = Endpoint(handler)
    report = await check_connection(llm(decide=decide), KEY, client_factory=endpoint.factory)
    assert report.kind == "not_found"
    assert report.message == f"model 'gpt-5-nano' not found at {URL}"
    assert not any("chat" in s for s in endpoint.seen)  # the 404 said so: no chat call


async def test_a_server_without_a_models_route_is_asked_with_one_token():
    calls: list[dict] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/chat/completions"):
            body = json.loads(request.content)
            calls.append(body)
            if body["model"] == "local-missing":
                return error(404, "model not loaded")
            return chat(body)
        return httpx2.Response(404, text="Not Found")  # a local server's bare 404

    endpoint = Endpoint(handler)
    ok = await check_connection(llm(classify=None), KEY, client_factory=endpoint.factory)
    assert ok.ok and calls[-1]["max_tokens"] == 1
    missing = StageModel(model="local-missing", input_per_mtok=0, output_per_mtok=0)
    report = await check_connection(llm(classify=None, decide=missing), KEY,
                                    client_factory=endpoint.factory)
    assert report.kind == "not_found" and "'local-missing'" in report.message


@pytest.mark.parametrize(("status", "kind", "says"), [
    (429, "rate_limited", "429"),
    (500, "error", "HTTP 500"),
    (400, "error", "HTTP 400"),
])
async def test_other_answers_are_named_with_their_status(status, kind, says):
    endpoint = Endpoint(lambda r: error(status, "scripted"))
    report = await check_connection(llm(), KEY, client_factory=endpoint.factory)
    assert (report.ok, report.kind) == (False, kind) and says in report.message


async def test_an_endpoint_that_echoes_the_key_does_not_get_it_into_the_report():
    endpoint = Endpoint(lambda r: error(400, f"bad request from key {KEY}"))
    report = await check_connection(llm(), KEY, client_factory=endpoint.factory)
    assert KEY not in report.message and "***" in report.message


@pytest.mark.parametrize(("key", "echo", "secret"), [
    # A key of no recognisable shape, quoted URL-encoded: masked as the key being tested.
    ("hunter2/local+key", "refused GET /v1/models?key=hunter2%2Flocal%2Bkey", "hunter2%2F"),
    # A proxy in front quoting a credential of its own, not the key being tested.
    (KEY, "proxy refused Authorization: Bearer prx-998877665544", "prx-998877665544"),
    (KEY, "upstream https://svc:upstream-pass-1@10.0.0.2 failed", "upstream-pass-1"),
])
async def test_no_credential_an_endpoint_quotes_gets_into_the_report(key, echo, secret):
    endpoint = Endpoint(lambda r: error(400, echo))
    report = await check_connection(llm(), key, client_factory=endpoint.factory)
    assert report.kind == "error" and "HTTP 400" in report.message
    assert secret not in report.message and "***" in report.message


def open_endpoint(request: httpx2.Request) -> httpx2.Response:
    """A local server that wants no key: lists its models and chats with anyone."""
    if request.url.path.endswith("/chat/completions"):
        return chat(json.loads(request.content))
    return model(request.url.path.rsplit("/", 1)[-1])


async def test_without_a_key_an_endpoint_that_wants_none_passes():
    endpoint = Endpoint(open_endpoint)
    report = await check_connection(llm(), None, client_factory=endpoint.factory)
    assert report.ok and report.kind == "ok"
    assert report.message.endswith("; no API key is stored; the endpoint accepted none")
    # Listing models proves nothing about a key: a chat call confirmed it.
    assert endpoint.seen[-1] == "POST /v1/chat/completions"
    assert [(s.what, s.ok) for s in report.steps] == [
        ("endpoint", True), ("model gpt-4o", True), ("model gpt-4o-mini", True),
        ("API key", True)]
    assert report.steps[-1].message == "OK: no API key is stored; the endpoint accepted none"


@pytest.mark.parametrize("public_models", [False, True])
async def test_without_a_key_an_endpoint_that_wants_one_says_so(public_models):
    def handler(request: httpx2.Request) -> httpx2.Response:
        if public_models and "/models/" in request.url.path:
            return model(request.url.path.rsplit("/", 1)[-1])
        return error(401, "You didn't provide an API key.")

    endpoint = Endpoint(handler)
    report = await check_connection(llm(), None, client_factory=endpoint.factory)
    assert (report.ok, report.kind) == (False, "auth")
    assert report.message == "the endpoint wants an API key: none is stored under 'default'"
    assert report.steps[0].ok and report.steps[-1] == CheckStep("API key", False,
                                                                report.message)


async def test_a_base_url_missing_v1_is_named_as_the_wrong_path():
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/v1/models":
            return httpx2.Response(200, json={"object": "list", "data": []})
        return httpx2.Response(404, json={"detail": "Not Found"})  # every other route

    endpoint = Endpoint(handler)
    report = await check_connection(LLMSettings(base_url="http://scripted.llm"), KEY,
                                    client_factory=endpoint.factory)
    assert (report.ok, report.kind) == (False, "wrong_path")
    assert report.message == ("the server answers at http://scripted.llm/v1: add /v1 to the "
                              "base URL")
    assert "model" not in report.message.replace("/v1/models", "")
    assert [(s.what, s.ok) for s in report.steps] == [
        ("endpoint", False), ("model gpt-4o", None), ("model gpt-4o-mini", None),
        ("API key", None)]


async def test_a_bare_404_where_v1_does_not_answer_either_is_still_a_missing_model():
    endpoint = Endpoint(lambda r: httpx2.Response(404, json={"detail": "Not Found"}))
    report = await check_connection(LLMSettings(base_url="http://scripted.llm", classify=None),
                                    KEY, client_factory=endpoint.factory)
    assert report.kind == "not_found" and "'gpt-4o' not found" in report.message
    assert "GET /v1/models" in endpoint.seen  # the /v1 was looked for first


async def test_every_missing_model_is_named_on_its_own_line():
    def handler(request: httpx2.Request) -> httpx2.Response:
        name = request.url.path.rsplit("/", 1)[-1]
        return error(404, f"The model '{name}' does not exist", "model_not_found")

    report = await check_connection(llm(), KEY, client_factory=Endpoint(handler).factory)
    assert report.message == f"models 'gpt-4o', 'gpt-4o-mini' not found at {URL}"
    assert [(s.what, s.ok, s.message) for s in report.steps[1:3]] == [
        ("model gpt-4o", False, f"not found at {URL}"),
        ("model gpt-4o-mini", False, f"not found at {URL}")]


async def test_a_closed_port_is_unreachable():
    report = await check_connection(LLMSettings(base_url="http://127.0.0.1:9/v1"), KEY)
    assert report.kind == "unreachable" and report.message.startswith("unreachable")


async def test_a_slow_endpoint_times_out_within_the_settings_timeout():
    def slow(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("scripted", request=request)

    endpoint = Endpoint(slow)
    report = await check_connection(llm(request_timeout_s=2.5), KEY,
                                    client_factory=endpoint.factory)
    assert report.kind == "timeout" and "within 2.5 s" in report.message


async def test_the_built_in_mock_needs_no_key_and_answers():
    report = await check_connection(LLMSettings(), None)
    assert report.ok and "built-in mock" in report.message
