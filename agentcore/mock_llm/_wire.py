"""The OpenAI chat-completions wire format: response objects, usage and errors.

Token counts follow the usual rule of thumb (about four characters a token) so
cost and budget logic downstream sees realistic numbers, not zeros.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

CHARS_PER_TOKEN = 4


def body_digest(body: Any) -> str:
    """A stable hash of a request body: same body, same ids."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _tokens(chars: int) -> int:
    return max(1, round(chars / CHARS_PER_TOKEN))


def prompt_tokens(body: dict[str, Any]) -> int:
    chars = len(json.dumps(body.get("messages") or [], ensure_ascii=False, default=str))
    if body.get("tools"):
        chars += len(json.dumps(body["tools"], ensure_ascii=False, default=str))
    return _tokens(chars)


def completion_tokens(message: dict[str, Any]) -> int:
    chars = len(message.get("content") or "")
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        chars += len(function.get("name") or "") + len(function.get("arguments") or "")
    return _tokens(chars)


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": arguments}}


def assistant_message(content: str | None,
                      tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def with_usage(completion: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Sets `usage` from the body and the (possibly altered) first choice."""
    prompt = prompt_tokens(body)
    output = completion_tokens(completion["choices"][0]["message"])
    completion["usage"] = {"prompt_tokens": prompt, "completion_tokens": output,
                           "total_tokens": prompt + output}
    return completion


def chat_completion(body: dict[str, Any], message: dict[str, Any], finish_reason: str,
                    created: int) -> dict[str, Any]:
    digest = body_digest(body)
    completion = {
        "id": f"chatcmpl-mock{digest[:24]}",
        "object": "chat.completion",
        "created": created,
        "model": str(body.get("model") or "mock-llm"),
        "system_fingerprint": "fp_mock",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason,
                     "logprobs": None}],
    }
    return with_usage(completion, body)


def error_body(message: str, error_type: str, code: str | None = None,
               param: str | None = None) -> dict[str, Any]:
    """OpenAI's error envelope; the SDK reads `error.message` into its exceptions."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def model_list(models: tuple[str, ...], created: int) -> dict[str, Any]:
    return {"object": "list",
            "data": [{"id": m, "object": "model", "created": created, "owned_by": "mock"}
                     for m in models]}
