"""The mock LLM as an in-process httpx2 transport for the openai SDK.

    client = AsyncOpenAI(base_url="http://mock.llm/v1", api_key="mock", max_retries=0,
                         http_client=httpx2.AsyncClient(transport=mock_transport()))

No socket, no thread: each request is answered on the caller's event loop, after
an `asyncio.sleep` for the simulated latency.
"""

from __future__ import annotations

import asyncio

import httpx2

from agentcore.mock_llm._service import CallStats, MockService
from agentcore.mock_llm.brain import MockBrain
from agentcore.settings import MockSettings

# An injected timeout raises after at most this long: the fault is about the
# client's handling, and a test must never wait for a real client timeout.
TIMEOUT_PAUSE_S = 0.05


class MockLLMTransport(httpx2.MockTransport):
    """An `httpx2.MockTransport` that serves the mock LLM and counts what it served."""

    def __init__(self, service: MockService) -> None:
        super().__init__(self._handle)
        self.service = service

    @property
    def stats(self) -> CallStats:
        return self.service.stats

    async def _handle(self, request: httpx2.Request) -> httpx2.Response:
        reply = self.service.handle(request.method, request.url.path, request.content,
                                    request.headers.get("authorization"))
        delay = min(reply.delay_s, TIMEOUT_PAUSE_S) if reply.timeout else reply.delay_s
        if delay > 0:
            await asyncio.sleep(delay)
        if reply.timeout:
            raise httpx2.ReadTimeout("mock LLM: read timed out (injected fault)",
                                     request=request)
        return httpx2.Response(reply.status, json=reply.body, headers=reply.headers)


def mock_transport(settings: MockSettings | None = None,
                   brain: MockBrain | None = None) -> MockLLMTransport:
    """A transport answering chat completions and model lists like an OpenAI endpoint."""
    return MockLLMTransport(MockService(settings, brain))
