"""The headless command line: `python -m agentcore
replay|ask|resume|check|learned|tools|export|audit|serve|migrate`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path

from agentcore.audit_cli import add_audit_parser, run_audit
from agentcore.check_cli import add_check_parser, run_check
from agentcore.database import add_database_flag, database_url
from agentcore.domain import installed_domains
from agentcore.endpoints import for_endpoint, is_local, server_slots
from agentcore.errors import UserFacingError
from agentcore.export_cli import add_export_parser, run_export
from agentcore.learned_cli import add_learned_parser, run_learned
from agentcore.migrate_cli import add_migrate_parser, run_migrate
from agentcore.models import EscalationReason
from agentcore.outbox_cli import add_outbox_parser, run_outbox
from agentcore.redaction import install_log_redaction, redact
from agentcore.serve_cli import add_serve_parser, run_serve
from agentcore.settings import LLMSettings, Settings, StageModel

# Escalations that say the set-up is broken, not that a human is wanted: `ask` exits 1.
BROKEN_SETUP = (EscalationReason.INTERNAL_ERROR, EscalationReason.LLM_UNAVAILABLE,
                EscalationReason.BREAKER_OPEN)


def _loaded(args: argparse.Namespace) -> Settings:
    """The settings file with the flags that say where things are."""
    settings = Settings.load(Path(args.settings)) if args.settings else Settings()
    if args.data_dir:
        settings.data_dir = Path(args.data_dir)
    if args.domain:
        settings.domain = args.domain
    if args.base_url:
        settings.llm.base_url = args.base_url
    if args.mock_latency_ms is not None:
        settings.mock.latency_median_ms = args.mock_latency_ms
    if args.database:
        settings.database_url = database_url(args.database)
    return settings


async def _settings(args: argparse.Namespace) -> Settings:
    """What a command runs with: the settings, the endpoint's profile, then the flags."""
    settings = _loaded(args)
    url = settings.llm.base_url
    slots = None
    # The server's own slot count, unless the limit is chosen already (a saved one or
    # --max-in-flight): the operator's choice wins, so there is nothing to ask.
    if is_local(url) and args.max_in_flight is None and settings.resilience.max_in_flight is None:
        assert url is not None
        slots = await server_slots(url)
    return with_flags(for_endpoint(settings, url, slots=slots), args)


async def _domains(args: argparse.Namespace) -> int:
    for name, target in sorted(installed_domains().items()):
        print(f"{name}\t{target}")
    return 0


def with_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    """`settings` with --model, --classify-model, --decide-model, --no-classify and
    --max-in-flight. After the profile: it prices only the stages it finds unchanged."""
    llm = settings.llm
    if args.no_classify:
        llm.classify = None
    for stage, name in (("classify", args.classify_model or args.model),
                        ("decide", args.decide_model or args.model)):
        if name is None:
            continue
        model: StageModel | None = getattr(llm, stage)
        if model is not None:
            model.model = name
        elif args.classify_model:  # --model alone does not add a stage the settings drop
            llm.classify = _new_classify_stage(name, is_local(llm.base_url))
    if args.max_in_flight is not None:
        settings.resilience.max_in_flight = args.max_in_flight
    return settings


def _new_classify_stage(name: str, local: bool) -> StageModel:
    # The settings file had no classify stage: priced as the default one, or free on a
    # local server, as the profile would have priced it.
    default = LLMSettings().classify
    assert default is not None
    return StageModel(model=name, input_per_mtok=0.0 if local else default.input_per_mtok,
                      output_per_mtok=0.0 if local else default.output_per_mtok)


async def _replay(args: argparse.Namespace) -> int:
    from agentcore.engine import Engine
    from agentcore.replay import read_corpus, replay

    corpus = read_corpus(Path(args.corpus), limit=args.limit or None)
    for report in corpus.reports():  # before the replay: a wrong file shows at once
        print(report, file=sys.stderr)
    rows, skipped = corpus.rows, len(corpus.bad_lines)
    bad_lines = f"{skipped} bad line{'s' * (skipped != 1)}"
    if not rows:
        print(f"nothing to replay: {corpus.path} holds no requests"
              + (f", only {bad_lines}" if skipped else ""), file=sys.stderr)
        return 1
    from agentcore.demo_shop.mcp import ShopOverMcp

    with ShopOverMcp(await _settings(args), args.shop_over_mcp) as settings:
        engine = Engine(settings)
        try:
            await engine.start()  # the tool servers (the shop's, over MCP), before the clock
            started = time.perf_counter()
            outcomes, metrics = await replay(engine, rows, rate=args.rate,
                                             concurrency=args.concurrency,
                                             progress=not args.quiet)
            elapsed = time.perf_counter() - started
        finally:
            await engine.close()
    print(f"\nreplayed {len(outcomes)} of {len(rows)} requests in {elapsed:.1f} s "
          f"({len(outcomes) / elapsed:.0f} req/s) against "
          f"{engine.settings.llm.base_url or 'the mock LLM'}")
    if skipped:
        print(f"skipped {bad_lines} of {corpus.path}, each named on stderr")
    print(metrics.summary())
    # Success only if every line was replayed: a skipped line is one that was not.
    return 0 if len(outcomes) == len(rows) and not skipped else 1


async def _ask(args: argparse.Namespace) -> int:
    from agentcore.engine import Engine
    from agentcore.models import Request

    engine = Engine(await _settings(args))
    try:
        outcome = await engine.submit(Request(text=args.text, customer_id=args.customer))
    finally:
        await engine.close()
    print(json.dumps({
        "route": str(outcome.route), "status": str(outcome.status), "intent": outcome.intent,
        "degraded": outcome.degraded, "rung": outcome.rung,
        "answer": outcome.answer, "draft": outcome.draft_answer,
        "escalation": str(outcome.escalation_reason) if outcome.escalation_reason else None,
        "latency_ms": round(outcome.latency_ms, 3), "dollars": outcome.usage.dollars,
        "errors": outcome.errors,
        "spans": [{"name": s.name, "ms": round(s.duration_ms, 3), "error": s.error}
                  for s in outcome.spans]}, indent=2, ensure_ascii=False))
    # A script must notice a set-up that cannot reach the LLM; a customer asking for a
    # human, a refund above the policy, are what the agent is for.
    return 1 if outcome.escalation_reason in BROKEN_SETUP else 0


async def _resume(args: argparse.Namespace) -> int:
    from collections import Counter

    from agentcore.engine import Engine

    engine = Engine(await _settings(args))
    try:
        outcomes = await engine.resume()
    finally:
        await engine.close()
    statuses = Counter(str(o.status) for o in outcomes)
    print(f"resumed {len(outcomes)} interrupted requests"
          + "".join(f"; {n} {status}" for status, n in sorted(statuses.items())))
    return 0


async def _tools(args: argparse.Namespace) -> int:
    from agentcore.tool_servers._cli import run_tools

    return await run_tools(_loaded(args), as_json=args.json)


async def _learned(args: argparse.Namespace) -> int:
    return await run_learned(_loaded(args), args)


async def _serve(args: argparse.Namespace) -> int:
    return await run_serve(await _settings(args), args)


async def _export(args: argparse.Namespace) -> int:
    return await run_export(_loaded(args), args)


async def _audit(args: argparse.Namespace) -> int:
    return await run_audit(_loaded(args), args)


async def _outbox(args: argparse.Namespace) -> int:
    return await run_outbox(_loaded(args), args)


async def _migrate(args: argparse.Namespace) -> int:
    return await run_migrate(_loaded(args), args)


async def _check(args: argparse.Namespace) -> int:
    loaded = _loaded(args)
    url = loaded.llm.base_url
    # Asked even where the limit is chosen already: `check` reports what the server says.
    slots = await server_slots(url) if url and is_local(url) else None
    return await run_check(with_flags(for_endpoint(loaded, url, slots=slots), args), slots,
                           as_json=args.json)


def _model_name(text: str) -> str:
    name = text.strip()
    if not name:
        raise argparse.ArgumentTypeError("a model name is needed, e.g. gpt-4o-mini")
    if any(ch.isspace() for ch in name):
        raise argparse.ArgumentTypeError(f"{text!r}: a model name has no spaces")
    return name


def _calls_in_flight(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number of calls, e.g. 1") from None
    if not 1 <= value <= 1024:
        raise argparse.ArgumentTypeError(f"{value}: from 1 to 1024 calls")
    return value


_EPILOG = """\
A local base URL (localhost, a private or .local address) gets the local-server
profile for whatever the settings file leaves at its default: one call in flight
(or as many as the server reports slots, llama.cpp's GET /props), 180 s per call,
900 s per request, no retry of a timed-out call, no token prices. No API key is
needed for a local server. `agentcore check` shows what would be used.

Exit status: 0 success; 1 a bug, or (ask) the set-up is broken; 2 bad settings
or arguments; 3-7 (check) what failed: see `agentcore check --help`."""

_ASK_EPILOG = """\
Exit status: 0 answered, or escalated to a human for an ordinary reason (the
customer asked for one, a refund above the policy, low confidence, ...); 1
escalated because the set-up is broken (internal error, LLM unavailable,
breaker open), so a script notices; 2 bad settings or arguments."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentcore", description=__doc__, epilog=_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", help="settings JSON file")
    parser.add_argument("--data-dir", help="folder for the databases (default: user data dir)")
    parser.add_argument("--domain", metavar="MODULE:FACTORY",
                        help="the agent's world: module:factory or an installed domain's name "
                             "(`agentcore domains` lists them; default: the demo shop)")
    add_database_flag(parser, default=None)
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint instead of the mock, "
                                           "e.g. http://127.0.0.1:8080/v1")
    parser.add_argument("--model", type=_model_name, metavar="NAME",
                        help="the model of every stage (classify and decide)")
    parser.add_argument("--classify-model", type=_model_name, metavar="NAME",
                        help="the model that names the intent")
    parser.add_argument("--decide-model", type=_model_name, metavar="NAME",
                        help="the model that calls tools and writes the answer")
    parser.add_argument("--no-classify", action="store_true",
                        help="no classify stage: the keyword classifier names the intent")
    parser.add_argument("--max-in-flight", type=_calls_in_flight, metavar="N",
                        help="LLM calls in flight at once (a local server: its slots)")
    parser.add_argument("--mock-latency-ms", type=float, default=None,
                        help="median latency of the in-process mock LLM (demos, crash tests)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("replay", help="run a JSONL corpus through the engine")
    rep.add_argument("corpus")
    rep.add_argument("--rate", type=float, default=0.0, help="requests per second (0: max)")
    rep.add_argument("--concurrency", type=int, default=8)
    rep.add_argument("--limit", type=int, default=0, help="only the first N requests")
    rep.add_argument("--quiet", action="store_true", help="no progress bar")
    rep.add_argument("--shop-over-mcp", nargs="?", const="stdio", choices=("stdio", "http"),
                     default=None, help="the demo shop's tools from its MCP server (python "
                     "-m agentcore.demo_shop.mcp) over stdio (the default) or Streamable HTTP "
                     "on loopback, instead of in process")
    ask = sub.add_parser("ask", help="answer one request and print the outcome",
                         epilog=_ASK_EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    ask.add_argument("text")
    ask.add_argument("--customer", type=int, default=None)
    sub.add_parser("resume", help="answer every request a crash left unfinished")
    sub.add_parser("domains", help="list the installed domains (entry points "
                                   "'hybrid_agent.domains')")
    tools = sub.add_parser("tools", help="every tool the agent would offer: the domain's and "
                                          "the tool servers' (settings tool_servers)",
                           epilog="Exit status: 0 every tool server is ready; 1 one is not "
                                  "(each named, with why); 2 bad settings.")
    tools.add_argument("--json", action="store_true", help="the tools and the servers' "
                                                            "reports as JSON")
    add_check_parser(sub)
    add_learned_parser(sub)
    add_export_parser(sub)
    add_audit_parser(sub)
    add_serve_parser(sub)
    add_outbox_parser(sub)
    add_migrate_parser(sub)
    args = parser.parse_args(argv)
    if args.no_classify and args.classify_model:
        parser.error("--no-classify drops the stage --classify-model names: choose one")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    install_log_redaction()  # a safety net: texts are redacted where they enter already
    command = {"replay": _replay, "ask": _ask, "resume": _resume, "check": _check,
               "domains": _domains, "learned": _learned, "tools": _tools,
               "export": _export, "audit": _audit, "serve": _serve, "outbox": _outbox,
               "migrate": _migrate}[args.command]
    try:
        return asyncio.run(command(args))
    except (UserFacingError, OSError, ValueError) as exc:
        print(redact(f"error: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception:  # a bug: its traceback through the log, which redacts, not bare
        logging.getLogger("agentcore.cli").exception("agentcore %s failed", args.command)
        return 1
