"""`agentcore check`: the settings dialog's "Test connection", from the command line.

One line per check (the endpoint, each model, the key), then, for a local
server, the slots it reports and the profile the engine would run with. The
exit status says what failed, so a script (or a CI job) can tell a dead server
from a wrong key without reading the text; `--json` gives the same to machines.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from agentcore.connection_check import CheckStep, ConnectionReport, check_connection
from agentcore.credentials import KeyringCredentials
from agentcore.endpoints import is_local, profile_summary
from agentcore.errors import SettingsError
from agentcore.redaction import redact
from agentcore.settings import Settings

log = logging.getLogger("agentcore.cli")

# The report's kind -> the exit status. 1 and 2 mean what they mean for every command.
EXIT_CODES = {"ok": 0, "unreachable": 3, "timeout": 3, "wrong_path": 4, "auth": 5,
              "forbidden": 5, "not_found": 6, "rate_limited": 7, "error": 7}

_EPILOG = """\
Checks the endpoint of the settings (or --base-url), each stage's model and the
API key, and prints one line for each. A local server needs no key: without one
the check passes if the endpoint accepts none.

Exit status:
  0  every check passed
  1  a bug (its traceback is logged)
  2  bad settings or arguments, or an unreadable settings file
  3  the endpoint is unreachable or did not answer in time
  4  the base URL's path is wrong (e.g. /v1 is missing)
  5  the endpoint wants an API key, refused it, or forbids it this model
  6  a model was not found
  7  any other answer (rate limited, an HTTP error, an unreadable reply)"""


def add_check_parser(sub: Any) -> None:
    """`sub`: the `add_subparsers` result of the main parser."""
    check = sub.add_parser("check", help="test the connection to the LLM endpoint",
                           description=__doc__, epilog=_EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("--json", action="store_true", help="one JSON object on stdout")


async def run_check(settings: Settings, slots: int | None, *, as_json: bool) -> int:
    """Checks `settings`' endpoint (the profile and flags applied); `slots`: what a local
    server reported, if asked. Prints the report and returns the exit status."""
    llm = settings.llm
    key = None
    if llm.base_url:
        try:
            key = KeyringCredentials().get(llm.api_key_name)
        except SettingsError as exc:  # no keyring service: a local server needs no key
            print(redact(f"warning: {exc}; checking without a key"), file=sys.stderr)
    report = await check_connection(llm, key)
    code = EXIT_CODES.get(report.kind, 7)
    local = is_local(llm.base_url)
    if as_json:
        print(json.dumps(_as_json(settings, report, code, local, slots), indent=2,
                         ensure_ascii=False))
        return code
    lines = [(step.what, _shown(step)) for step in report.steps]
    if local:
        lines.append(("server", _slots_line(slots)))
    lines.append(("profile", ("local server: " if local else "")
                  + profile_summary(settings)))
    width = max(len(what) for what, _ in lines)
    for what, message in lines:
        print(f"{what:<{width}}  {message}")
    return code


def _shown(step: CheckStep) -> str:
    return step.message if step.ok is not False else f"FAILED: {step.message}"


def _slots_line(slots: int | None) -> str:
    if slots is None:
        return "local; no slot count (GET /props gave no total_slots)"
    return f"local; it reports {slots} slot{'s' * (slots != 1)} (GET /props)"


def _as_json(settings: Settings, report: ConnectionReport, code: int, local: bool,
             slots: int | None) -> dict[str, Any]:
    resilience = settings.resilience
    return {
        "ok": report.ok, "kind": report.kind, "message": report.message, "exit_code": code,
        "base_url": settings.llm.base_url, "latency_ms": report.latency_ms,
        "checks": [{"check": s.what, "ok": s.ok, "message": s.message} for s in report.steps],
        "local": local, "slots": slots,
        "profile": {
            "max_in_flight": resilience.max_in_flight,
            "request_timeout_s": settings.llm.request_timeout_s,
            "request_deadline_s": resilience.request_deadline_s,
            "max_attempts": resilience.retry.max_attempts,
            "retry_timeouts": resilience.retry.retry_timeouts,
            "stages": {name: None if stage is None else stage.model_dump()
                       for name, stage in (("classify", settings.llm.classify),
                                           ("decide", settings.llm.decide))},
            "summary": profile_summary(settings)}}
