"""The headless command line: `python -m agentcore replay|ask|resume`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path

from agentcore.errors import UserFacingError
from agentcore.redaction import install_log_redaction, redact
from agentcore.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.load(Path(args.settings)) if args.settings else Settings()
    if args.data_dir:
        settings.data_dir = Path(args.data_dir)
    if args.base_url:
        settings.llm.base_url = args.base_url
    if args.mock_latency_ms is not None:
        settings.mock.latency_median_ms = args.mock_latency_ms
    return settings


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
    engine = Engine(_settings(args))
    try:
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

    engine = Engine(_settings(args))
    try:
        outcome = await engine.submit(Request(text=args.text, customer_id=args.customer))
    finally:
        await engine.close()
    print(json.dumps({
        "route": str(outcome.route), "status": str(outcome.status), "intent": outcome.intent,
        "answer": outcome.answer, "draft": outcome.draft_answer,
        "escalation": str(outcome.escalation_reason) if outcome.escalation_reason else None,
        "latency_ms": round(outcome.latency_ms, 3), "dollars": outcome.usage.dollars,
        "errors": outcome.errors,
        "spans": [{"name": s.name, "ms": round(s.duration_ms, 3), "error": s.error}
                  for s in outcome.spans]}, indent=2, ensure_ascii=False))
    return 0


async def _resume(args: argparse.Namespace) -> int:
    from collections import Counter

    from agentcore.engine import Engine

    engine = Engine(_settings(args))
    try:
        outcomes = await engine.resume()
    finally:
        await engine.close()
    statuses = Counter(str(o.status) for o in outcomes)
    print(f"resumed {len(outcomes)} interrupted requests"
          + "".join(f"; {n} {status}" for status, n in sorted(statuses.items())))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentcore", description=__doc__)
    parser.add_argument("--settings", help="settings JSON file")
    parser.add_argument("--data-dir", help="folder for the databases (default: user data dir)")
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint instead of the mock")
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
    ask = sub.add_parser("ask", help="answer one request and print the outcome")
    ask.add_argument("text")
    ask.add_argument("--customer", type=int, default=None)
    sub.add_parser("resume", help="answer every request a crash left unfinished")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    install_log_redaction()  # a safety net: texts are redacted where they enter already
    command = {"replay": _replay, "ask": _ask, "resume": _resume}[args.command]
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
