"""A deterministic offline LLM that speaks the OpenAI chat-completions wire format.

The same client code (`openai.AsyncOpenAI`) runs against it in demos and tests:
in process through `mock_transport()`, or over a loopback port with
`MockServer`. `FaultPlan` injects 429s, 5xx, timeouts, malformed output and
unknown tool names at seeded rates. No Qt here.
"""

from agentcore.mock_llm.brain import MockBrain
from agentcore.mock_llm.faults import FaultPlan
from agentcore.mock_llm.server import MockServer
from agentcore.mock_llm.transport import mock_transport

__all__ = ["FaultPlan", "MockBrain", "MockServer", "mock_transport"]
