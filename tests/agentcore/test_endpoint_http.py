"""The LLM client against a real socket: abandoned calls hang up before any retry,
calls in flight stay under the endpoint's limit, and set-up mistakes say what they
are. The endpoint is `StandinEndpoint`, real HTTP on loopback."""

from __future__ import annotations

import asyncio

import pytest

from agentcore import Engine, KeyringCredentials, Request
from agentcore.errors import LLMError, LLMErrorKind
from agentcore.llm import LLMClient, build_client
from agentcore.resilience import ResilienceSettings, ResilientLLM, RetrySettings
from agentcore.settings import Settings, StageModel
from tests.agentcore.standin_endpoint import StandinEndpoint

STAGE = StageModel(model="m", input_per_mtok=0, output_per_mtok=0)
MESSAGES = [{"role": "user", "content": "hello"}]


def llm_at(base_url: str, *, timeout_s: float = 30.0, **resilience) -> ResilientLLM:
    settings = Settings()
    settings.llm.base_url = base_url
    settings.llm.request_timeout_s = timeout_s
    client = build_client(settings, KeyringCredentials())
    retry = RetrySettings(max_attempts=resilience.pop("attempts", 3), base_delay_s=0.01,
                          max_delay_s=0.02, retry_timeouts=resilience.pop("retry_timeouts",
                                                                          True))
    return ResilientLLM(LLMClient(client), ResilienceSettings(retry=retry, **resilience))


async def test_a_timed_out_call_hangs_up_before_it_is_retried(test_keyring):
    async with StandinEndpoint(["hang", "ok"]) as endpoint:
        llm = llm_at(f"{endpoint.root}/v1", timeout_s=0.3)
        try:
            completion = await llm.complete(STAGE, MESSAGES, None, 50)
        finally:
            await llm.close()
    first, retry = endpoint.seen
    assert completion.content
    # The server saw the abandoned call's connection close, then the retry: a local
    # server stops working on it rather than queueing the retry behind it.
    assert first.hung_up is not None and first.hung_up <= retry.arrived


async def test_a_call_cut_by_the_requests_deadline_hangs_up_too(test_keyring):
    async with StandinEndpoint(["hang"]) as endpoint:
        llm = llm_at(f"{endpoint.root}/v1")
        try:
            with pytest.raises(LLMError, match="deadline"):
                await llm.complete(STAGE, MESSAGES, None, 50,
                                   deadline=llm.clock.monotonic() + 0.3)
            await asyncio.sleep(0.1)  # the server's read of the hang-up
        finally:
            await llm.close()
    assert endpoint.seen[0].hung_up is not None


async def test_a_local_profile_does_not_retry_a_timeout(test_keyring):
    async with StandinEndpoint(["hang", "ok"]) as endpoint:
        llm = llm_at(f"{endpoint.root}/v1", timeout_s=0.3, retry_timeouts=False)
        try:
            with pytest.raises(LLMError, match="timeouts are not retried"):
                await llm.complete(STAGE, MESSAGES, None, 50)
        finally:
            await llm.close()
    assert len(endpoint.seen) == 1


@pytest.mark.parametrize("limit", [1, 2])
async def test_calls_in_flight_stay_under_the_endpoints_limit(test_keyring, limit):
    async with StandinEndpoint([], delay_s=0.1) as endpoint:
        llm = llm_at(f"{endpoint.root}/v1", max_in_flight=limit)
        try:
            done = await asyncio.gather(*(llm.complete(STAGE, MESSAGES, None, 50)
                                          for _ in range(5)))
        finally:
            await llm.close()
    assert len(done) == 5 and len(endpoint.seen) == 5
    assert endpoint.max_in_flight == limit
    assert llm.stats.slot_wait_s > 0  # the others queued here, not at the server


async def test_no_limit_sends_every_call_at_once(test_keyring):
    async with StandinEndpoint([], delay_s=0.1) as endpoint:
        llm = llm_at(f"{endpoint.root}/v1")
        try:
            await asyncio.gather(*(llm.complete(STAGE, MESSAGES, None, 50) for _ in range(4)))
        finally:
            await llm.close()
    assert endpoint.max_in_flight == 4


async def test_a_local_server_needs_no_api_key(settings, test_keyring):
    async with StandinEndpoint([]) as endpoint:
        settings.llm.base_url = f"{endpoint.root}/v1"
        settings.llm.classify = None
        engine = Engine(settings, credentials=KeyringCredentials())
        try:
            outcome = await engine.submit(Request("my app keeps crashing and nothing helps",
                                                  customer_id=1))
        finally:
            await engine.close()
    assert outcome.answer == "Reinstall it." and not outcome.errors
    assert endpoint.seen[0].authorization == "Bearer no-key"  # the keyring holds none


async def test_an_endpoint_wanting_a_key_is_told_none_is_stored(test_keyring):
    async with StandinEndpoint([401]) as endpoint:
        llm = llm_at(f"{endpoint.root}/v1")
        try:
            with pytest.raises(LLMError, match="keyring holds none") as err:
                await llm.complete(STAGE, MESSAGES, None, 50)
        finally:
            await llm.close()
    assert err.value.kind is LLMErrorKind.AUTH and len(endpoint.seen) == 1


async def test_a_base_url_without_v1_is_named_as_the_wrong_path(test_keyring):
    async with StandinEndpoint([]) as endpoint:
        llm = llm_at(endpoint.root)  # "http://127.0.0.1:PORT", as typed by a new user
        try:
            with pytest.raises(LLMError, match="does not end in /v1") as err:
                await llm.complete(STAGE, MESSAGES, None, 50)
        finally:
            await llm.close()
    assert err.value.kind is LLMErrorKind.NOT_FOUND and "model" not in str(err.value).lower()
