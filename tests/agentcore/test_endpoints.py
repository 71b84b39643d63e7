"""Endpoint profiles: a local server gets settings that suit one slot on a CPU."""

from __future__ import annotations

import json

import pytest

from agentcore.endpoints import LOCAL, for_endpoint, is_local, server_slots
from agentcore.settings import Settings
from tests.standin_llm import standin_llm


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/v1", "http://localhost:11434/v1",
                                 "http://192.168.1.20:8000/v1", "http://gpu-box.lan:8000/v1",
                                 "http://[::1]:8080/v1"])
def test_servers_on_this_machine_or_the_lan_are_local(url):
    assert is_local(url)


@pytest.mark.parametrize("url", [None, "https://api.openai.com/v1",
                                 "https://my-resource.openai.azure.com/openai",
                                 "http://8.8.8.8/v1"])
def test_hosted_apis_and_the_mock_are_not(url):
    assert not is_local(url)


def test_a_local_server_gets_one_slot_long_timeouts_and_no_prices():
    settings = for_endpoint(Settings(), "http://127.0.0.1:8080/v1")
    assert settings.llm.base_url == "http://127.0.0.1:8080/v1"
    assert settings.resilience.max_in_flight == 1
    assert settings.llm.request_timeout_s == LOCAL.request_timeout_s
    assert settings.resilience.request_deadline_s == LOCAL.request_deadline_s
    assert not settings.resilience.retry.retry_timeouts
    assert settings.llm.decide.input_per_mtok == settings.llm.decide.output_per_mtok == 0


def test_a_hosted_api_keeps_the_hosted_defaults():
    settings = for_endpoint(Settings(), "https://api.openai.com/v1")
    assert settings.resilience.max_in_flight is None
    assert settings.llm.request_timeout_s == Settings().llm.request_timeout_s
    assert settings.llm.decide.input_per_mtok > 0


def test_the_operators_own_choices_win_even_from_a_file_that_saved_every_field():
    saved = Settings()
    saved.resilience.max_in_flight = 4
    saved.llm.request_timeout_s = 45
    reloaded = Settings.model_validate_json(json.dumps(saved.model_dump(mode="json")))
    settings = for_endpoint(reloaded, "http://127.0.0.1:8080/v1")
    assert settings.resilience.max_in_flight == 4 and settings.llm.request_timeout_s == 45
    assert not settings.resilience.retry.retry_timeouts  # still the default: profiled


def test_a_server_with_more_slots_gets_that_many_calls_in_flight():
    settings = for_endpoint(Settings(), "http://127.0.0.1:8080/v1", slots=4)
    assert settings.resilience.max_in_flight == 4


async def test_llama_cpps_server_says_how_many_slots_it_has():
    with standin_llm(slots=3) as endpoint:
        assert await server_slots(endpoint.base_url) == 3


async def test_a_server_that_does_not_say_has_unknown_slots():
    with standin_llm() as endpoint:  # /props is a 404 here
        assert await server_slots(endpoint.base_url) is None
    assert await server_slots("http://127.0.0.1:9/v1", timeout_s=0.5) is None  # nobody there
