"""The write an escalation waits on, decided by an operator: approve (held to the
write's own policy, or above it with an explicit override), deny, and the
settling of an approval a crash cut short.

An approval is a state in the database, waiting -> approving -> approved or
failed, taken by a conditional UPDATE, so two consoles can never both run it. It
runs the write through `act`, keyed by the ORIGINAL request id: the domain's write
tools are idempotent per request, so approving twice (or again after a crash)
acts once. A crash between the write and its record leaves the item approving;
`recover` (at start) and `get` settle it from the domain's own record of the
write (`recorded`). `EscalationQueue` (agentcore.escalations) is the host of these
methods; this module keeps the queue's file to claims and endings.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from agentcore.errors import QueueError, ToolError
from agentcore.escalation_model import Escalation, PendingStatus, required_text
from agentcore.models import PendingAction, PolicyOverride

if TYPE_CHECKING:
    from agentcore.clock import Clock
    from agentcore.domain import WriteLimits
    from agentcore.storage import EscalationRepository
    from agentcore.tools import ToolRegistry

log = logging.getLogger("agentcore.escalations")

# (tool, arguments, original request id, its customer, an operator's override) -> result
Act = Callable[[str, dict[str, Any], str, int | None, PolicyOverride | None],
               Awaitable[dict[str, Any]]]
# (tool, arguments, request id) -> what that write did, from the domain's record; None: never
Recorded = Callable[[str, dict[str, Any], str], dict[str, Any] | None]
# (tool, arguments) -> what bounds that write now (paid, refunded, policy)
Limits = Callable[[str, dict[str, Any]], "WriteLimits | None"]
# (tool, arguments) -> the arguments as the write reads them; ToolError if it can't
Parse = Callable[[str, dict[str, Any]], dict[str, Any]]
APPROVAL_WINDOW_S = 60.0  # an approval still "approving" after this was cut short by a crash
MAX_OVERRIDE_REASON = 300  # kept with the refund itself, whole


class PendingWrites:
    """The pending-write half of `EscalationQueue` (a mixin: it uses the queue's claims,
    transactions and listeners, declared here for the type checker)."""

    if TYPE_CHECKING:
        clock: Clock
        approval_window_s: float
        _items: EscalationRepository
        _act: Act
        _recorded: Recorded | None
        _keeps_record: Callable[[str], bool] | None
        _limits: Limits | None
        _parse: Parse | None
        _version_of: Callable[[str], str | None] | None

        def _claimed(self, escalation_id: int, operator: str) -> Escalation: ...
        def _load(self, escalation_id: int) -> Escalation: ...
        def _changed(self, escalation_id: int) -> None: ...
        def _refused(self, item: Escalation, operator: str, *,
                     undecided: bool = False) -> None: ...

    def limits_for(self, tool: str, arguments: dict[str, Any]) -> WriteLimits | None:
        """What bounds a write with these (perhaps edited) arguments, now; None when
        the domain has no figures for it."""
        if self._limits is None:
            return None
        with contextlib.suppress(ToolError):  # else figures from what was typed, if readable
            arguments = self._parse(tool, arguments) if self._parse is not None else arguments
        return self._limits(tool, arguments)

    async def approve(self, escalation_id: int, operator: str,
                      arguments: dict[str, Any] | None = None, *,
                      override_reason: str | None = None) -> dict[str, Any]:
        """Runs the pending write (with the operator's edited `arguments`, if given),
        held to the write's own policy; with `override_reason`, above the policy but
        never past the write's hard limits (a refund: what is left of what was paid).

        Keyed by the original request: approving again returns the first result. The
        record keeps what the write did, as the write reports it."""
        item = self._settle(self._claimed(escalation_id, operator))
        pending = self._approvable(item)
        args = self._parsed(pending.tool, pending.arguments if arguments is None else arguments)
        if item.pending_status is PendingStatus.APPROVED:  # the same write again: no more
            done = item.pending_result or {}
            if arguments is not None and args != done.get("arguments"):
                raise QueueError(f"the {pending.tool} of escalation {escalation_id} was "
                                 f"already approved and done with {done.get('arguments')}")
            return dict(done.get("result") or {}) | {"replayed": True}
        override = None if override_reason is None else PolicyOverride(
            operator, required_text(override_reason, "the reason for overriding the policy"))
        if override is not None and len(override.reason) > MAX_OVERRIDE_REASON:
            raise QueueError(f"keep the reason for overriding the policy under "
                             f"{MAX_OVERRIDE_REASON} characters; it goes with the refund")
        record: dict[str, Any] = {"arguments": args, "by": operator, "at": self.clock.now(),
                                  "override": override.reason if override else None}
        now = self.clock.now()  # one approval at a time, whichever console
        if not self._items.start_approval(item.id, operator, now, record,
                                          now + self.approval_window_s):
            self._refused(item, operator, undecided=True)
        self._changed(escalation_id)
        try:
            result = await self._act(pending.tool, args, item.request_id,
                                     item.request.customer_id, override)
        except ToolError as exc:  # refused: nothing was done
            self._end_approval(escalation_id, PendingStatus.FAILED, record | {"error": str(exc)})
            raise QueueError(f"{pending.tool} was not done: {exc}") from exc
        except BaseException:  # a bug or a cancellation: the domain's record says what happened
            self._settle(self._load(escalation_id), interrupted=True)
            raise
        if result.get("replayed") and result.get("as_asked") is False:
            # This request did that write before, otherwise (the agent refunded $1 where
            # $49.99 is approved now): nothing more was done, and the record says so.
            error = (f"this request already did {pending.tool} there, otherwise: "
                     f"{_done_text(result)}; nothing more was done")
            self._end_approval(escalation_id, PendingStatus.FAILED,
                               record | {"error": error, "result": result})
            raise QueueError(f"{pending.tool} was not done: {error}")
        self._end_approval(escalation_id, PendingStatus.APPROVED, record | {"result": result})
        log.info("escalation %d: %s approved by %s%s", escalation_id, pending.tool, operator,
                 " over the policy" if override else "")
        return result

    def _parsed(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments as the write will read them: what is recorded and compared is
        what runs (12345.0 and "12345" are one order)."""
        if self._parse is None:
            return dict(arguments)
        try:
            return self._parse(tool, arguments)
        except ToolError as exc:
            raise QueueError(f"{tool} was not done: {exc}") from None

    def _approvable(self, item: Escalation) -> PendingAction:
        pending = item.pending_action
        if pending is None:
            raise QueueError(f"escalation {item.id} has no action waiting for approval")
        if item.request.customer_id is None:
            raise QueueError(f"escalation {item.id}'s request has no customer: approving would "
                             f"act on records nobody was shown to own; ask who is writing")
        if item.pending_status in (PendingStatus.DENIED, PendingStatus.APPROVING):
            raise QueueError(why_decided(item))
        if (pending.tool_version is not None and self._version_of is not None
                and item.pending_status is not PendingStatus.APPROVED
                and self._version_of(pending.tool) != pending.tool_version):
            raise QueueError(
                f"{pending.tool} changed on its tool server since the agent asked for this "
                "(its schema or description is not the one the request was answered "
                "with), so approving could run another write; nothing was done. Deny it, "
                "and act in the backend or ask the customer again")
        return pending

    def _end_approval(self, escalation_id: int, status: PendingStatus,
                      record: dict[str, Any]) -> None:
        self._items.end_approval(escalation_id, status, record)
        self._changed(escalation_id)

    def _settle(self, item: Escalation, *, interrupted: bool = False) -> Escalation:
        """An approval cut short (a crash between the write and its record) reads as
        what the domain says happened: done, with what it did, or failed, with nothing
        done (or nothing more: the request's record there is another write, which this
        approval could only replay). One still inside its window may be running in
        another process: left alone, unless this process knows its own run was
        `interrupted`. One taken for interrupted (failed, or denied after) is checked
        again: a write landing late still makes it done."""
        pending, status = item.pending_action, item.pending_status
        if pending is None or status is None:
            return item
        attempt = item.pending_result or {}
        if status is PendingStatus.DENIED:
            attempt = attempt.get("attempt") or {}
        if status is not PendingStatus.APPROVING and not attempt.get("interrupted"):
            return item
        args = attempt.get("arguments") or pending.arguments
        done = (self._recorded(pending.tool, args, item.request_id)
                if self._recorded is not None else None)
        if done is not None and done.get("as_asked") is False:
            # The request did that write before, otherwise (the agent refunded $1 where
            # $5,000 is being approved): this approval can only replay it, so it is not
            # done, whichever station reads it first.
            if status is not PendingStatus.APPROVING:
                return item
            self._end_approval(item.id, PendingStatus.FAILED, attempt | {
                "error": f"this request already did {pending.tool} there, otherwise: "
                         f"{_done_text(done)}; nothing more was done",
                "result": done, "interrupted": False})
        elif done is not None:
            done = {k: v for k, v in done.items() if k != "as_asked"}
            self._end_approval(item.id, PendingStatus.APPROVED, attempt | {
                "result": done, "recovered": True, "interrupted": False})
            log.warning("escalation %d: an interrupted approval (%s) had written; recorded "
                        "as done", item.id, status)
        elif status is PendingStatus.APPROVING and (
                interrupted or (item.approving_until or 0.0) <= self.clock.now()):
            known = self._keeps_record is None or self._keeps_record(pending.tool)
            self._end_approval(item.id, PendingStatus.FAILED, attempt | {
                "error": "the approval was interrupted before the write: nothing was done"
                if known else f"the approval was interrupted, and {pending.tool} keeps no "
                "record here: whether it acted is unknown (approving again sends the same "
                "idempotency key, which a server that honours it never acts twice on)",
                "interrupted": True})
        else:
            return item
        return self._load(item.id)

    def recover(self) -> int:
        """Settles every approval a crash cut short (at start); returns how many."""
        approving = self._items.list(self.clock.now(), approving=True)
        settled = [self._settle(item) for item in approving]
        return sum(1 for item in settled if item.pending_status is not PendingStatus.APPROVING)

    async def deny(self, escalation_id: int, operator: str, reason: str) -> Escalation:
        """Refuses the pending write; the item stays claimed for a reply."""
        reason = required_text(reason, "the reason for denying")
        item = self._settle(self._claimed(escalation_id, operator))
        if item.pending_action is None:
            raise QueueError(f"escalation {escalation_id} has no action waiting for approval")
        record: dict[str, Any] = {"reason": reason, "by": operator, "at": self.clock.now()}
        if (item.pending_result or {}).get("interrupted"):
            record["attempt"] = item.pending_result  # its write may still show up
        if not self._items.deny(item.id, operator, self.clock.now(), record):
            self._refused(item, operator, undecided=True)
        self._changed(escalation_id)
        return self._load(escalation_id)

    @staticmethod
    def _undecided(item: Escalation) -> None:
        if item.pending_action is None or item.pending_status is None:
            return
        if item.pending_status.undecided:
            raise QueueError(f"approve or deny the pending {item.pending_action.tool} "
                             f"of escalation {item.id} first")
        if item.pending_status is PendingStatus.APPROVING:
            raise QueueError(why_decided(item))


def why_decided(item: Escalation) -> str:
    """Why the pending write of `item` can't be decided (again) now."""
    tool = item.pending_action.tool if item.pending_action else "action"
    result = item.pending_result or {}
    if item.pending_status is PendingStatus.APPROVING:
        return (f"the {tool} of escalation {item.id} is being approved now by "
                f"{result.get('by', 'another operator')}: its result shows in a moment")
    if item.pending_status is PendingStatus.DENIED:
        return f"the {tool} of escalation {item.id} was denied"
    return f"the {tool} of escalation {item.id} was already approved and done"


def _done_text(result: dict[str, Any]) -> str:
    shown = {k: v for k, v in result.items() if k not in ("replayed", "as_asked")}
    return json.dumps(shown, default=str)


def tool_parse(tools: ToolRegistry) -> Parse:
    """A `parse` for the queue: a write tool's arguments read by its schema."""
    def parse(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        spec = tools.get(tool)  # UnknownToolError is a ToolError
        if not spec.writes:
            raise ToolError(f"{tool} is not a write action")
        return spec.parse(json.dumps(arguments, default=str))

    return parse


def tool_act(tools: ToolRegistry, *, timeout_s: float) -> Act:
    """An `act` for the queue: a write tool of `tools`, its arguments checked against
    the tool's schema, run under the original request's id (its idempotency key) and
    held to the tool's policy, or above it with the operator's override. It runs as
    approved: a write without a policy of its own runs now, once."""
    from agentcore.tools import ToolContext

    parse = tool_parse(tools)

    async def act(tool: str, arguments: dict[str, Any], request_id: str,
                  customer_id: int | None, override: PolicyOverride | None) -> dict[str, Any]:
        context = ToolContext(request_id, customer_id, override=override, approved=True)
        return await tools.call(tool, parse(tool, arguments), context, timeout_s)

    return act
