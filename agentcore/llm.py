"""The LLM behind one small class, reached through the openai SDK.

Any OpenAI-compatible endpoint works (`base_url`); with none configured the
in-process mock LLM is plugged into the SDK as its HTTP transport, so demos and
tests run the same client code. openai's exceptions (and what the transport raises
past them) are translated here into `LLMError` with a `kind` the retry and
degradation logic can act on, their text redacted: an endpoint may quote the key it
refused. A keyring that cannot be read means no key, not a broken engine.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentcore.credentials import KeyringCredentials
from agentcore.errors import LLMError, LLMErrorKind, MissingKeyError, SettingsError
from agentcore.json_replies import FormatNegotiation, Mode, refuses_format
from agentcore.redaction import redact, register_secret
from agentcore.settings import Settings, StageModel

if TYPE_CHECKING:
    import openai

# The openai SDK takes about 0.3 s to import: it is imported when the first
# client is built, so a process that only answers by rule never pays for it.

log = logging.getLogger("agentcore.llm")

MOCK_BASE_URL = "http://mock.llm/v1"
NO_KEY = "no-key"  # sent when the keyring holds none: local servers ignore it
_MAX_CHARS_PER_TOKEN = 16  # tokens average ~4 characters; 16 leaves room for any script


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # raw JSON text, validated by the tool registry


@dataclass(slots=True)
class Completion:
    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dollars: float = 0.0

    def as_message(self) -> dict[str, Any]:
        """The assistant message to append to the conversation. Its content is a string
        even beside tool calls: OpenAI takes null there, but llama.cpp's server answers
        a null with HTTP 500, every time."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content or ""}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function",
                 "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls]
        return message


def estimate_tokens(messages: list[dict[str, Any]], tools_chars: int = 0) -> int:
    """A conservative prompt-size estimate (about 4 characters a token).

    `tools_chars` is the length of the tool schemas' JSON, computed once by the
    registry rather than on every call."""
    chars = len(json.dumps(messages, ensure_ascii=False, default=str)) + tools_chars
    return chars // 4 + 1


def build_client(settings: Settings, credentials: KeyringCredentials | None = None
                 ) -> openai.AsyncOpenAI:
    import httpx2
    import openai

    llm = settings.llm
    timeout = llm.request_timeout_s
    if llm.base_url is None:
        from agentcore.mock_llm import mock_transport  # only demos and tests load it

        http = httpx2.AsyncClient(transport=mock_transport(settings.mock), timeout=timeout)
        return openai.AsyncOpenAI(base_url=MOCK_BASE_URL, api_key="mock", http_client=http,
                                  max_retries=0, timeout=timeout)
    try:
        key = (credentials or KeyringCredentials()).get(llm.api_key_name)
    except SettingsError as exc:
        # No keyring service on this desktop (keyring's `fail` backend raises on every
        # read): that is no key, not a broken engine. A local server still answers; one
        # that wants a key says 401, a missing key. It once escalated every slow-path
        # request as "internal error", with the ladder never asked.
        log.warning("no API key for the LLM: %s", exc)
        key = None
    # A local server needs no key; the SDK insists on one, so a placeholder goes. An
    # endpoint that does want one answers 401, which `LLMClient` names as a missing key.
    register_secret(key)  # from now on no error text, log line or trace can carry it
    return openai.AsyncOpenAI(base_url=llm.base_url, api_key=key or NO_KEY, max_retries=0,
                              timeout=timeout)


_STATUS_KINDS = {401: LLMErrorKind.AUTH, 403: LLMErrorKind.AUTH, 404: LLMErrorKind.NOT_FOUND,
                 429: LLMErrorKind.RATE_LIMITED}


def _translate(exc: Exception) -> LLMError:
    """openai's error -> LLMError; every text the endpoint or the SDK wrote is redacted.
    Raise it `from None`: the original still holds the unredacted text."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return LLMError(LLMErrorKind.TIMEOUT, "the LLM did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return LLMError(LLMErrorKind.CONNECTION, redact(f"cannot reach the LLM endpoint: {exc}"))
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retry_after = None
        header = exc.response.headers.get("retry-after")
        if header:
            try:
                retry_after = float(header)
            except ValueError:
                retry_after = None
        kind = _STATUS_KINDS.get(status, LLMErrorKind.SERVER if status >= 500
                                 else LLMErrorKind.BAD_REQUEST)
        return LLMError(kind, redact(f"HTTP {status}: {exc.message}"), status=status,
                        retry_after=retry_after)
    return LLMError(LLMErrorKind.MALFORMED, redact(f"unreadable response: {exc}"))


class LLMClient:
    def __init__(self, client: openai.AsyncOpenAI, *,
                 structured_output: Mode = "auto") -> None:
        import openai
        from openai.types.chat import ChatCompletion

        self._client = client
        self._openai_error = openai.OpenAIError
        self._completion_type = ChatCompletion
        self.formats = FormatNegotiation(structured_output)
        # No key in the keyring: a 401 then means "store one", not "the key is wrong".
        self._keyless = client.api_key == NO_KEY
        self._under_v1 = str(client.base_url).rstrip("/").endswith("/v1")

    async def close(self) -> None:
        await self._client.close()

    async def complete(self, stage: StageModel, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]] | None, max_tokens: int, *,
                       schema: tuple[str, dict[str, Any]] | None = None) -> Completion:
        """One chat completion. `tools` are offered with `tool_choice: "auto"` (OpenAI's
        default, which llama.cpp's function-calling handler needs to show them to the
        model at all). `schema` (a name and a JSON schema) asks a call without tools for
        a JSON reply, in the first `response_format` the endpoint takes."""
        body: dict[str, Any] = {"model": stage.model, "messages": messages,
                                "max_tokens": max_tokens}
        if tools:
            body["tools"] = tools
            body["tool_choice"] = "auto"
        asks = schema is not None and not tools
        while True:
            index, response_format = (self.formats.response_format(*schema)
                                      if schema is not None and asks else (0, None))
            if response_format is None:
                body.pop("response_format", None)
            else:
                body["response_format"] = response_format
            try:
                completion = await self._post(stage, body, max_tokens)
            except LLMError as exc:
                # A 400 or 422, or (llama-cpp-python) a 500, quoting the format it refused.
                if response_format is not None and refuses_format(exc) and (
                        self.formats.refused(index)):
                    continue  # the same call, in the next format (or none)
                raise
            if asks:
                self.formats.accepted(index)
            return completion

    async def _post(self, stage: StageModel, body: dict[str, Any], max_tokens: int
                    ) -> Completion:
        try:
            # `chat.completions.create` first walks every key of the messages and
            # tool schemas through its typed-params transform: about 60 % of the
            # SDK's CPU per call, on the console's GUI thread. Our body is already
            # plain wire-format JSON, so it goes through the SDK's own `post`
            # (same client, auth, timeouts, errors and typed response) untouched.
            response = await self._client.post("/chat/completions", body=body,
                                               cast_to=self._completion_type)
        except self._openai_error as exc:
            error = _translate(exc)
            if error.kind is LLMErrorKind.AUTH and self._keyless:
                error = MissingKeyError("the endpoint wants an API key, and the keyring "
                                        "holds none for it", status=error.status)
            elif error.kind is LLMErrorKind.NOT_FOUND and not self._under_v1:
                error = LLMError(LLMErrorKind.NOT_FOUND, f"{error}; the base URL does not end "
                                 "in /v1, where OpenAI-compatible servers answer",
                                 status=error.status)
            raise error from None
        except (ValueError, TypeError) as exc:  # a body the SDK could not parse
            raise LLMError(LLMErrorKind.MALFORMED, redact(f"unreadable response: {exc}")) from None
        except Exception as exc:
            # The SDK wraps only httpx's own errors: what the socket layer raises past
            # them (anyio's ExceptionGroup around a non-OSError, an OverflowError for a
            # port above 65535) would leave as a bug, an "internal error" per request.
            # The call never reached an endpoint: it is unreachable, and retried and
            # counted as such. Cancellation is a BaseException and passes.
            log.warning("the HTTP client failed under the LLM call", exc_info=True)
            raise LLMError(LLMErrorKind.CONNECTION, redact(
                f"cannot reach the LLM endpoint: {type(exc).__name__}: {exc}")) from None
        if not response.choices:
            raise LLMError(LLMErrorKind.MALFORMED, "the response has no choices")
        message = response.choices[0].message
        # No model writes more than max_tokens; a body far beyond it is a broken
        # or hostile endpoint, and must not be fed back into the next prompt.
        if message.content and len(message.content) > max_tokens * _MAX_CHARS_PER_TOKEN:
            raise LLMError(LLMErrorKind.MALFORMED, f"a reply of {len(message.content):,} "
                           f"characters for a {max_tokens}-token limit")
        # Only function calls: a "custom" tool call has no function to run.
        calls = [ToolCall(c.id, fn.name, fn.arguments or "")
                 for c in (message.tool_calls or [])
                 if (fn := getattr(c, "function", None)) is not None]
        usage = response.usage
        prompt = usage.prompt_tokens if usage else 0
        completion = usage.completion_tokens if usage else 0
        return Completion(message.content, calls, prompt, completion,
                          stage.cost(prompt, completion))
