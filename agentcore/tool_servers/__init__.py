"""MCP servers as a source of the agent's tools (settings `tool_servers`)."""

from agentcore.tool_servers._config import (
    KEYRING_PREFIX,
    ArgumentLimit,
    ToolServerConfig,
    WritePolicy,
)
from agentcore.tool_servers._report import ServerReport, ServerState, ToolInfo
from agentcore.tool_servers._servers import ToolServers, test_server

__all__ = [
    "KEYRING_PREFIX",
    "ArgumentLimit",
    "ServerReport",
    "ServerState",
    "ToolInfo",
    "ToolServerConfig",
    "ToolServers",
    "WritePolicy",
    "test_server",
]
