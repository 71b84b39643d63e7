"""One MCP tool server, connected through the official `mcp` SDK's client.

A `ToolServer` owns one supervisor task. Everything the SDK opens (the stdio
child or the HTTP client, the transport's task group, the `ClientSession`) is
entered and left in that task: anyio's cancel scopes must exit in the task that
entered them ("Attempted to exit cancel scope in a different task"). The
session is long-lived; `call()` from any task sends through it concurrently.

The supervisor connects, lists the tools and waits; when the connection ends
(the child exits, a ping or call finds the server gone, an HTTP server no
longer knows the session) it connects again, with capped exponential backoff,
for as long as the server is not closed. A start is bounded by
`start_timeout_s`; a call by its `timeout_s`. What went wrong is said in
`detail` in an operator's words, with every secret scrubbed out.

Importing this module imports the SDK (a second of cold start): import it where
servers are started, never from `agentcore`'s own import.

The SDK serialises requests without None values: a key of `meta` set to None
arrives at the server absent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TextIO, cast
from urllib.parse import urlsplit

import anyio
import httpx2
import mcp_types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from agentcore.clock import Clock, SystemClock
from agentcore.errors import ToolServerError
from agentcore.redaction import register_secret
from agentcore.tool_servers._config import KEYRING_PREFIX, ToolServerConfig
from agentcore.tool_servers._report import ServerState

logger = logging.getLogger("agentcore.tool_servers")

Sleep = Callable[[float], Awaitable[None]]

# Backoff between connection attempts: doubles from the first to the cap.
FIRST_RETRY_S = 0.5
MAX_RETRY_S = 30.0
# An idle connection is pinged this often, so a server that died between calls
# (HTTP has no open pipe to notice it by) shows as reconnecting, not ready.
PING_INTERVAL_S = 20.0
_LIST_PAGES = 100  # a paginator that never ends cannot hang a listing
_STDERR_TAIL = 300  # characters of a failed child's stderr put in `detail`


@dataclass(frozen=True)
class CallResult:
    """What tools/call returned: `is_error` as the server set it, the text of its
    content blocks joined, and its structured content."""

    is_error: bool
    text: str
    structured: dict[str, Any] | None


class _Failure(Exception):
    """An attempt failed in a way already put in words (a missing keyring entry, an
    unanswered ping)."""


class _Connection:
    """One attempt's live session, as the supervisor and the callers share it."""

    def __init__(self, session: ClientSession, generation: int) -> None:
        self.session = session
        self.generation = generation


class _WatchedStream:
    """The transport's read stream, telling us when it ends: the session itself has
    no signal for a connection that closed, only the errors of pending requests."""

    def __init__(self, inner: Any, on_end: Callable[[], None]) -> None:
        self._inner = inner
        self._on_end = on_end

    async def __aenter__(self) -> _WatchedStream:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        try:
            return await self._inner.__aexit__(*exc)
        finally:
            self._on_end()

    def __aiter__(self) -> _WatchedStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._inner.__anext__()
        except (StopAsyncIteration, anyio.ClosedResourceError):
            self._on_end()
            raise

    def __getattr__(self, name: str) -> Any:  # last_context, close, ...
        return getattr(self._inner, name)


class ToolServer:
    """A configured MCP server: its state, its tools, and calls to them."""

    def __init__(self, config: ToolServerConfig, *, secret: Callable[[str], str | None],
                 on_change: Callable[[], None] | None = None, clock: Clock | None = None,
                 sleep: Sleep | None = None, ping_interval_s: float | None = PING_INTERVAL_S,
                 first_retry_s: float = FIRST_RETRY_S, max_retry_s: float = MAX_RETRY_S) -> None:
        self.config = config
        self.state = ServerState.STARTING
        self.detail = ""
        self.since: float | None = None
        self.reconnects = 0
        self.tools: list[mcp_types.Tool] = []
        self._secret = secret
        self._on_change = on_change
        self._clock = clock or SystemClock()
        self._sleep: Sleep = sleep or asyncio.sleep
        self._ping_interval_s = ping_interval_s
        self._first_retry_s = first_retry_s
        self._max_retry_s = max_retry_s
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._conn: _Connection | None = None
        self._generation = 0
        self._ever_ready = False
        # Set, and replaced by a fresh one, each time a connection becomes READY: a
        # caller waiting for the server to be back waits on the one it saw.
        self._became_ready = asyncio.Event()
        self._attempt_ready = False
        self._settled = asyncio.Event()  # the first attempt ended, either way
        self._wake = asyncio.Event()  # the supervisor has something to look at
        self._lost_generation = -1  # a caller saw this connection die
        self._relist = False
        self._scope: anyio.CancelScope | None = None
        self._secrets: list[str] = []  # resolved values, scrubbed from every detail
        self._http_status: int | None = None  # the last HTTP error status of an attempt
        self._stderr: TextIO | None = None

    # -- the public face -------------------------------------------------------------

    async def start(self) -> None:
        """Connect; return once READY, or FAILED with `detail` after
        `config.start_timeout_s`. Never raises for the server's fault; keeps trying
        in the background. Starting again is a no-op."""
        if self._task is not None or self._closing:
            return
        if not self.config.enabled:
            self._set(ServerState.DISABLED, "switched off in the settings")
            return
        self._set(ServerState.STARTING, "connecting")
        self._task = asyncio.create_task(self._supervise(), name=f"tool-server-{self.config.name}")
        timeout = self.config.start_timeout_s
        try:
            await asyncio.wait_for(self._settled.wait(), timeout)
        except TimeoutError:
            # The attempt's own deadline fires too; saying it here does not wait for
            # the hung child to be taken down.
            if self.state is ServerState.STARTING:
                self._set(ServerState.FAILED, _no_answer(timeout))

    async def call(self, name: str, arguments: dict[str, Any], *, meta: dict[str, Any],
                   timeout_s: float) -> CallResult:
        """Call a tool. ToolServerError when the server is not READY, when the call
        does not answer within `timeout_s`, or when the connection dies under it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        retried = False
        while True:
            conn = self._conn
            if conn is None or self.state is not ServerState.READY:
                raise ToolServerError(self._not_ready())
            try:
                return await self._call_once(conn, name, arguments, meta, deadline - loop.time(),
                                             timeout_s)
            except _SessionUnknown:
                # The server restarted and forgot the session before it saw the call:
                # nothing ran, so one retry on a new session is safe even for a write.
                self._lose(conn)
                if retried:
                    raise ToolServerError(
                        f"tool server {self.config.name!r} keeps forgetting its session") from None
                retried = True
                remaining = deadline - loop.time()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._back(conn), max(remaining, 0))
                if self._conn is None or self._conn is conn or self._closing:
                    raise ToolServerError(
                        f"tool server {self.config.name!r} restarted and did not take a new "
                        f"session within {timeout_s:g} s") from None

    async def close(self) -> None:
        """End the supervisor: the session closed, a stdio child terminated."""
        self._closing = True
        self._settled.set()
        task, self._task = self._task, None
        if task is None:
            self._set(ServerState.DISABLED, "closed")
            return
        if self._scope is not None:
            self._scope.cancel()
        else:
            task.cancel()
        self._wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._conn = None
        self._became_ready.set()
        self._set(ServerState.DISABLED, "closed")

    # -- calls ------------------------------------------------------------------------

    async def _call_once(self, conn: _Connection, name: str, arguments: dict[str, Any],
                         meta: dict[str, Any], remaining: float,
                         timeout_s: float) -> CallResult:
        timed_out = ToolServerError(f"{name} timed out after {timeout_s:g} s")
        if remaining <= 0:
            raise timed_out
        try:
            # The SDK's own timeout sends the server a cancel; ours is the backstop for
            # a write that cannot even be sent (a child that stopped reading stdin).
            async with asyncio.timeout(remaining + 1.0):
                result = await conn.session.call_tool(
                    name, arguments, read_timeout_seconds=remaining,
                    meta=cast(mcp_types.RequestParamsMeta, meta))
        except TimeoutError:
            raise timed_out from None
        except MCPError as exc:
            if exc.code == mcp_types.REQUEST_TIMEOUT:
                raise timed_out from None
            if exc.code == mcp_types.CONNECTION_CLOSED:
                self._lose(conn)
                raise ToolServerError(f"the connection to tool server {self.config.name!r} "
                                      f"was lost during {name}") from None
            if self.config.url is not None and _session_unknown(exc):
                raise _SessionUnknown from None
            if _http_failure(exc):
                # The SDK's stand-in for an HTTP error status: no answer from the tool,
                # and whether it acted is unknown.
                status = f"HTTP {self._http_status}" if self._http_status else "an HTTP error"
                raise ToolServerError(f"{name} got {status} from tool server "
                                      f"{self.config.name!r}") from None
            # A JSON-RPC error is the server's answer (an unknown tool, arguments it
            # rejects): the model hears it as the tool's error.
            logger.info("tool server %s answered %s with error %s", self.config.name, name,
                        exc.code)
            return CallResult(True, self._scrub(exc.message), None)
        except (RuntimeError, ValidationError) as exc:
            # The SDK checks the result against the tool's output schema: it ran, but
            # what it says cannot be read, so whether it acted is unknown.
            raise ToolServerError(f"{name} answered with a result that does not fit its "
                                  f"declared output: {self._scrub(str(exc))[:300]}") from None
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._lose(conn)
            raise ToolServerError(f"the connection to tool server {self.config.name!r} "
                                  f"was lost during {name}") from None
        if not isinstance(result, mcp_types.CallToolResult):  # an input request we never ask for
            raise ToolServerError(f"{name} asked for input the agent cannot give")
        return CallResult(bool(result.is_error), _text_of(result.content),
                          result.structured_content)

    async def _back(self, old: _Connection) -> None:
        """Until a connection newer than `old` is READY."""
        while not self._closing and (self._conn is None or self._conn is old
                                     or self.state is not ServerState.READY):
            await self._became_ready.wait()

    def _lose(self, conn: _Connection) -> None:
        """A caller found this connection dead: the supervisor replaces it."""
        if self._lost_generation < conn.generation:
            self._lost_generation = conn.generation
            self._wake.set()

    # -- the supervisor -------------------------------------------------------------

    async def _supervise(self) -> None:
        failures = 0
        while not self._closing:
            self._generation += 1
            self._attempt_ready = False
            # A stdio child's stderr, kept for `detail` when it dies (a traceback's end).
            with (tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
                  if self.config.command is not None else contextlib.nullcontext()) as stderr:
                self._stderr = cast("TextIO | None", stderr)
                try:
                    await self._connect_and_serve(self._generation)
                    reason = self._ended_reason()
                except asyncio.CancelledError:
                    if self._closing:
                        return
                    raise
                except Exception as exc:  # the server's fault: in words, and try again
                    reason = self._describe(exc)
                    logger.debug("tool server %s: attempt failed", self.config.name,
                                 exc_info=True)
                finally:
                    self._conn = None
                    self._scope = None
                    self._stderr = None
            if self._closing:
                return
            self._set(ServerState.RECONNECTING if self._ever_ready else ServerState.FAILED,
                      reason)
            self._settled.set()
            if self._attempt_ready:  # the backoff counts from the last success
                failures = 0
            delay = min(self._max_retry_s, self._first_retry_s * 2 ** failures)
            failures += 1
            logger.debug("tool server %s: next attempt in %g s", self.config.name, delay)
            try:
                await self._sleep(delay)
            except asyncio.CancelledError:
                if self._closing:
                    return
                raise

    async def _connect_and_serve(self, generation: int) -> None:
        timeout = self.config.start_timeout_s
        self._http_status = None
        ended = False

        def on_end() -> None:
            nonlocal ended
            ended = True
            self._wake.set()

        with anyio.CancelScope(deadline=anyio.current_time() + timeout) as scope:
            self._scope = scope
            if self._closing:
                scope.cancel()
            async with contextlib.AsyncExitStack() as stack:
                read, write = await self._open_transport(stack)
                session = await stack.enter_async_context(ClientSession(
                    cast(Any, _WatchedStream(read, on_end)), write,
                    message_handler=self._on_message))
                await session.initialize()
                self.tools = await self._list(session)
                # Started: from here only ping, call and listing deadlines apply.
                scope.deadline = math.inf
                conn = _Connection(session, generation)
                self._conn = conn
                if self._ever_ready:
                    self.reconnects += 1
                self._ever_ready = True
                self._attempt_ready = True
                self._set(ServerState.READY, "")
                self._became_ready.set()
                self._became_ready = asyncio.Event()
                self._settled.set()
                await self._serve(conn, lambda: ended)
        if scope.cancelled_caught and not self._closing:
            raise TimeoutError

    async def _serve(self, conn: _Connection, ended: Callable[[], bool]) -> None:
        while not self._closing:
            try:
                async with asyncio.timeout(self._ping_interval_s):
                    await self._wake.wait()
            except TimeoutError:
                await self._ping(conn)
                continue
            self._wake.clear()
            if ended() or self._lost_generation >= conn.generation:
                return
            if self._relist:
                self._relist = False
                try:
                    with anyio.fail_after(self.config.timeout_s):
                        self.tools = await self._list(conn.session)
                except (MCPError, TimeoutError) as exc:
                    logger.warning("tool server %s: re-listing its tools failed: %s",
                                   self.config.name, self._scrub(str(exc)))
                    continue
                logger.info("tool server %s: %d tools after a change", self.config.name,
                            len(self.tools))
                self._changed()

    async def _ping(self, conn: _Connection) -> None:
        try:
            with anyio.fail_after(self.config.timeout_s):
                await conn.session.send_ping()
        except TimeoutError:
            raise _Failure(f"did not answer a ping within {self.config.timeout_s:g} s") from None

    async def _list(self, session: ClientSession) -> list[mcp_types.Tool]:
        tools: list[mcp_types.Tool] = []
        cursor: str | None = None
        for _ in range(_LIST_PAGES):
            params = mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await session.list_tools(params=params)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, mcp_types.ToolListChangedNotification):
            self._relist = True
            self._wake.set()
        elif isinstance(message, Exception):
            logger.debug("tool server %s: transport reported %r", self.config.name,
                         self._scrub(str(message)))

    async def _open_transport(self, stack: contextlib.AsyncExitStack) -> tuple[Any, Any]:
        config = self.config
        if config.command is not None:
            env = self._resolve(config.env, "environment variable")
            params = StdioServerParameters(command=config.command, args=config.args, env=env,
                                           cwd=config.cwd)
            errlog = self._stderr if self._stderr is not None else sys.stderr
            return await stack.enter_async_context(stdio_client(params, errlog=errlog))
        assert config.url is not None
        headers = self._resolve(config.headers, "header")

        async def note_status(response: httpx2.Response) -> None:
            # Messages go by POST; the event stream's GET and the goodbye DELETE have
            # their own troubles and retries.
            if response.status_code >= 400 and response.request.method == "POST":
                self._http_status = response.status_code

        # The SDK's timeouts (a long read for SSE streams), plus a hook that keeps the
        # status an error answered with: the SDK reports only "an error response".
        client = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0),
                                    event_hooks={"response": [note_status]})
        await stack.enter_async_context(client)
        read, write = await stack.enter_async_context(
            streamable_http_client(config.url, http_client=client))
        return read, write

    def _resolve(self, values: dict[str, str], what: str) -> dict[str, str]:
        """Read keyring references, at each attempt: an entry stored later counts."""
        resolved: dict[str, str] = {}
        for key, value in values.items():
            if value.startswith(KEYRING_PREFIX):
                entry = value[len(KEYRING_PREFIX):]
                try:
                    found = self._secret(entry)
                except Exception as exc:  # the keyring backend's own failure
                    raise _Failure(f"could not read keyring entry {entry!r} for the "
                                        f"{what} {key}: {type(exc).__name__}") from None
                if not found:
                    raise _Failure(f"keyring entry {entry!r} (the {what} {key}) is "
                                        "missing: store it in the keyring")
                if found not in self._secrets:
                    self._secrets.append(found)
                    # A server's error text (an isError result) may quote it back ("token
                    # ... refused"): the registry redacts tool errors with these.
                    register_secret(found)
                value = found
            resolved[key] = value
        return resolved

    # -- words ------------------------------------------------------------------------

    def _describe(self, exc: BaseException) -> str:
        leaf = _leaf(exc)
        config = self.config
        where = _safe_url(config.url) if config.url else config.command or ""
        text: str
        if isinstance(leaf, _Failure):
            text = str(leaf)
        elif isinstance(leaf, TimeoutError):
            text = _no_answer(config.start_timeout_s)
        elif isinstance(leaf, FileNotFoundError) and config.command is not None:
            text = f"command not found: {config.command}"
        elif isinstance(leaf, PermissionError) and config.command is not None:
            text = f"cannot run {config.command}: permission denied"
        elif isinstance(leaf, httpx2.ConnectError):
            refused = _caused_by(leaf, ConnectionRefusedError)
            text = (f"connection refused: nothing answers at {where}" if refused
                    else f"cannot connect to {where}: {leaf}")
        elif isinstance(leaf, httpx2.TimeoutException):
            text = f"{where} did not answer in time"
        elif isinstance(leaf, httpx2.TransportError):
            text = f"the connection to {where} failed: {type(leaf).__name__}"
        elif isinstance(leaf, MCPError) and _session_unknown(leaf):
            text = "the server restarted and no longer knows the session"
        elif isinstance(leaf, MCPError) and self._http_status is not None:
            text = f"HTTP {self._http_status} from {where}"
        elif isinstance(leaf, MCPError) and leaf.code == mcp_types.CONNECTION_CLOSED:
            text = ("the connection was lost" if self._ever_ready
                    else "the server closed the connection before answering")
            said = self._stderr_tail()
            if said:
                text += f"; it said: {said}"
        elif isinstance(leaf, MCPError):
            text = f"the server answered with an error: {leaf.message}"
        elif isinstance(leaf, OSError) and config.command is not None:
            text = f"cannot start {config.command}: {leaf.strerror or leaf}"
        else:
            text = f"{type(leaf).__name__}: {leaf}"
        return self._scrub(text)

    def _ended_reason(self) -> str:
        if self.config.command is None:
            return "the connection ended"
        said = self._stderr_tail()
        return self._scrub("the server process exited" + (f"; it said: {said}" if said else ""))

    def _not_ready(self) -> str:
        detail = f": {self.detail}" if self.detail else ""
        return f"tool server {self.config.name!r} is {self.state}{detail}"

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.flush()
            self._stderr.seek(0)
            lines = [line.strip() for line in self._stderr.read().splitlines() if line.strip()]
        except (OSError, ValueError):
            return ""
        return " / ".join(lines[-3:])[-_STDERR_TAIL:]

    def _scrub(self, text: str) -> str:
        for value in self._secrets:
            text = text.replace(value, "***")
        return text

    # -- state ------------------------------------------------------------------------

    def _set(self, state: ServerState, detail: str) -> None:
        if state is self.state and detail == self.detail:
            return
        if state is not self.state:
            self.since = self._clock.now()
            level = logging.WARNING if state in (ServerState.FAILED,
                                                 ServerState.RECONNECTING) else logging.INFO
            logger.log(level, "tool server %s: %s%s", self.config.name, state,
                       f" ({detail})" if detail else "")
        self.state = state
        self.detail = detail
        self._changed()

    def _changed(self) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change()
        except Exception:  # a listener's bug must not stop the supervisor
            logger.exception("tool server %s: on_change raised", self.config.name)


class _SessionUnknown(Exception):
    """HTTP 404 for our session id: the server restarted and forgot it."""


def _session_unknown(exc: MCPError) -> bool:
    # The SDK's transport says "Session terminated" for a bare 404; the SDK's server
    # answers its 404 with a JSON-RPC error "Session not found", which wins.
    return exc.code == mcp_types.INVALID_REQUEST and "session" in exc.message.lower()


def _http_failure(exc: MCPError) -> bool:
    return (exc.code == mcp_types.INTERNAL_ERROR
            and exc.message == "Server returned an error response")


def _no_answer(timeout: float) -> str:
    return f"did not answer within {timeout:g} s of starting"


def _text_of(blocks: list[Any]) -> str:
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        elif isinstance(block, mcp_types.EmbeddedResource) and isinstance(
                block.resource, mcp_types.TextResourceContents):
            parts.append(block.resource.text)
        else:  # an image, audio, a link: the model hears that there was one
            parts.append(f"[{getattr(block, 'type', 'content')}]")
    return "\n".join(parts)


def _leaf(exc: BaseException) -> BaseException:
    """The first real failure inside the task groups' exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        inner = [e for e in exc.exceptions if not isinstance(e, asyncio.CancelledError)]
        exc = (inner or list(exc.exceptions))[0]
    return exc


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _safe_url(url: str) -> str:
    """The URL without its query: a token may ride in it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
