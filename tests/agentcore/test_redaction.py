"""Redaction: no credential survives a text that crosses a boundary, and nothing else is lost.

The properties run on a `Redactor` of their own, so the random keys they register
never mask text in other tests; the process-wide one is exercised where it is
used (the engine, the CLI, the connection check).
"""

from __future__ import annotations

import io
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcore.redaction import (
    MASK,
    MIN_SECRET_LENGTH,
    RedactingFilter,
    Redactor,
    install_log_redaction,
)

LOCAL_KEY = "hunter2-local-key"  # a local server's key: no recognisable shape


@pytest.mark.parametrize(("text", "secret"), [
    ("Incorrect API key provided: sk-proj-Ab3dEf6hIj9kLmNoPq", "sk-proj-Ab3dEf6hIj9kLmNoPq"),
    ("Incorrect API key provided: sk-5f3c9a1e7d2b4c6a8e0f.", "sk-5f3c9a1e7d2b4c6a8e0f"),
    ("got 'Bearer eyJhbGciOi.J9x_y-z~+/abc=' from the proxy", "eyJhbGciOi.J9x_y-z~+/abc="),
    ("headers: {'Authorization': 'Bearer tok_live_998877'}", "tok_live_998877"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ("authorization=raw-token-without-scheme", "raw-token-without-scheme"),
    ("GET /v1/models?api_key=AIzaSyD-1234567890abcdef HTTP/1.1", "AIzaSyD-1234567890abcdef"),
    ('{"api-key": "azure0123456789abcdef"}', "azure0123456789abcdef"),
    ("x-api-key: ant-0123456789", "ant-0123456789"),
    ("client_secret=s3cr3t-value&grant_type=x", "s3cr3t-value"),
    ("access_token: ya29.a0AfH6SM", "ya29.a0AfH6SM"),
    ("password=correct-horse-battery", "correct-horse-battery"),
    ("connect to https://ops:pa55word-xyz@llm.example.com/v1 failed", "pa55word-xyz"),
])
def test_credential_shaped_values_are_masked_and_what_they_were_is_still_said(text, secret):
    clean = Redactor().redact(text)
    assert secret not in clean and MASK in clean
    # The label stays: a reader still learns what was refused or sent.
    for label in ("Incorrect API key provided", "Bearer", "Authorization", "api_key",
                  "api-key", "x-api-key", "client_secret", "access_token", "password",
                  "https://ops:"):
        if label in text:
            assert label in clean


@pytest.mark.parametrize("text", [
    "HTTP 429: Rate limit reached for requests (mock fault).",
    "order 12345 is not one of this customer's orders",
    "max_tokens=400 exceeded; tokens: 512 prompt, 88 completion",
    "the task-scheduler-12 failed; risk-assessment-2024 stale",
    "warehouse_lookup timed out after 0.05 s",
    "https://api.openai.com/v1/chat/completions answered 503",
])
def test_ordinary_error_texts_pass_unchanged(text):
    assert Redactor().redact(text) == text


def test_a_registered_key_of_any_shape_is_masked_wherever_it_appears():
    redactor = Redactor([LOCAL_KEY])
    text = (f"Incorrect API key provided: {LOCAL_KEY}. url=/v1?k={LOCAL_KEY}&x=1 "
            f'body={{"key": "{LOCAL_KEY}"}} ({LOCAL_KEY})')
    clean = redactor.redact(text)
    assert LOCAL_KEY not in clean
    assert clean.count(MASK) == 4 and clean.startswith("Incorrect API key provided: ***.")


def test_a_registered_key_is_masked_url_encoded_and_json_escaped_too():
    key = 'p@ss/word+"quoted"'
    clean = Redactor([key]).redact('q=p%40ss%2Fword%2B%22quoted%22 j="p@ss/word+\\"quoted\\""')
    assert "p%40ss%2Fword" not in clean and 'word+\\"quoted' not in clean


def test_placeholder_keys_of_local_servers_are_not_secrets_and_mask_nothing():
    redactor = Redactor(["EMPTY", "none", "x", "*" * 20])
    text = "none of the 3 tools answered; EMPTY result; x=1; ****"
    assert redactor.redact(text) == text


def test_a_key_registered_later_is_masked_from_then_on():
    redactor = Redactor()
    assert redactor.redact(LOCAL_KEY) == LOCAL_KEY
    redactor.register(LOCAL_KEY)
    assert redactor.redact(LOCAL_KEY) == MASK


@settings(max_examples=300, deadline=None)
@given(key=st.text(min_size=MIN_SECRET_LENGTH, max_size=40).filter(lambda k: k.strip("*")),
       before=st.text(max_size=60), after=st.text(max_size=60), times=st.integers(1, 3))
def test_a_registered_key_embedded_anywhere_never_survives(key, before, after, times):
    redactor = Redactor([key])
    text = before + (key + after) * times
    assert key not in redactor.redact(text)


@settings(max_examples=200, deadline=None)
@given(token=st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789-_"), min_size=20, max_size=60),
       before=st.text(max_size=40), after=st.text(max_size=40))
def test_an_unregistered_openai_key_behind_any_text_never_survives(token, before, after):
    key = f"sk-{token}"
    # Whatever is around it, a word boundary sets it apart in an error message.
    clean = Redactor().redact(f"{before} {key} {after}")
    assert key not in clean


# -- logging, the safety net ----------------------------------------------------------


@pytest.fixture
def logged():
    """A logger writing through a handler with the redacting filter, and what it wrote."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter(Redactor([LOCAL_KEY])))
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


def test_the_log_filter_masks_messages_and_their_arguments(logged):
    logger, stream = logged
    logger.warning("endpoint said: %s", f"Incorrect API key provided: {LOCAL_KEY}")
    logger.warning("sent Authorization: Bearer %s", "tok-9f8e7d6c5b4a")
    out = stream.getvalue()
    assert LOCAL_KEY not in out and "tok-9f8e7d6c5b4a" not in out
    assert "endpoint said: Incorrect API key provided: ***" in out


def test_the_log_filter_masks_tracebacks_and_stacks(logged):
    logger, stream = logged
    try:
        raise RuntimeError(f"backend refused {LOCAL_KEY}")
    except RuntimeError:
        logger.exception("a tool failed")
    logger.error("where from", stack_info=True, extra={"key": LOCAL_KEY})
    out = stream.getvalue()
    assert "Traceback" in out and "RuntimeError: backend refused ***" in out
    # The source line of the raise quotes the key too: the whole traceback is cleaned.
    assert LOCAL_KEY not in out


def test_the_log_filter_leaves_a_record_with_bad_arguments_to_logging(logged):
    logger, stream = logged
    logging.raiseExceptions, before = False, logging.raiseExceptions
    try:
        logger.warning("two %s %s", "one")  # logging reports this itself; no raise here
    finally:
        logging.raiseExceptions = before
    logger.warning("after: %s", LOCAL_KEY)
    assert "after: ***" in stream.getvalue()


def test_installing_twice_adds_one_filter_per_handler():
    logger = logging.getLogger("tests.redaction.install")
    handlers = [logging.StreamHandler(io.StringIO()), logging.StreamHandler(io.StringIO())]
    for handler in handlers:
        logger.addHandler(handler)
    try:
        install_log_redaction(logger)
        install_log_redaction(logger)
        assert [len(h.filters) for h in handlers] == [1, 1]
        assert all(isinstance(h.filters[0], RedactingFilter) for h in handlers)
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
