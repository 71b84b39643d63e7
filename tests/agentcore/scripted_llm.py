"""A scripted LLM for exact tests of the loop's bounds, on the OpenAI wire format.

Each step of the script is what the endpoint answers to the next call: an
assistant message (content and/or tool calls), a raw HTTP status (alone, or as
`(status, message)`), or a raw body. It goes through the real openai client like the mock LLM does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai


def tool_call(name: str, arguments: dict[str, Any] | str, call_id: str = "") -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id or f"call_{name}", "type": "function",
            "function": {"name": name, "arguments": args}}


def final(answer: str = "Done.", intent: str = "billing", confidence: float = 0.9,
          handoff: str | None = None) -> dict[str, Any]:
    return {"content": json.dumps({"intent": intent, "answer": answer,
                                   "confidence": confidence, "handoff": handoff})}


@dataclass
class ScriptedLLM:
    steps: list[Any]
    requests: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 500
    completion_tokens: int = 50

    def _respond(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        if not self.steps:
            raise AssertionError("the script ran out: the engine made an unexpected call")
        step = self.steps.pop(0)
        if isinstance(step, int):
            step = (step, "scripted")
        if isinstance(step, tuple):
            status, text = step
            return httpx2.Response(status, json={"error": {"message": text, "type": "x"}})
        if isinstance(step, bytes):
            return httpx2.Response(200, content=step,
                                   headers={"content-type": "application/json"})
        message = {"role": "assistant", "content": step.get("content")}
        if step.get("tool_calls"):
            message["tool_calls"] = step["tool_calls"]
        return httpx2.Response(200, json={
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion",
            "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if step.get("tool_calls") else "stop"}],
            "usage": {"prompt_tokens": self.prompt_tokens,
                      "completion_tokens": self.completion_tokens,
                      "total_tokens": self.prompt_tokens + self.completion_tokens}})

    def client(self) -> openai.AsyncOpenAI:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(self._respond))
        return openai.AsyncOpenAI(base_url="http://scripted.llm/v1", api_key="test",
                                  http_client=http, max_retries=0)
