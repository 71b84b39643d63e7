"""`python -m agentcore.mock_llm --port 8099`: the mock LLM on a loopback port until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import threading

from pydantic import ValidationError

from agentcore.mock_llm.server import MockServer
from agentcore.settings import MockSettings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m agentcore.mock_llm",
                                description="Serve the offline mock LLM on 127.0.0.1 "
                                            "(OpenAI chat-completions wire format).")
    p.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    p.add_argument("--latency-ms", type=float, default=0.0, help="median latency per call")
    p.add_argument("--latency-sigma", type=float, default=0.5, help="lognormal spread")
    p.add_argument("--rate-429", type=float, default=0.0, help="share of calls answered 429")
    p.add_argument("--rate-5xx", type=float, default=0.0, help="share answered 500/502/503")
    p.add_argument("--rate-timeout", type=float, default=0.0, help="share never answered")
    p.add_argument("--rate-malformed", type=float, default=0.0, help="share with invalid JSON")
    p.add_argument("--rate-unknown-tool", type=float, default=0.0,
                   help="share calling a tool that was not offered")
    p.add_argument("--reject-key", action="store_true",
                   help="refuse every request with a 401 quoting the key presented, as "
                        "OpenAI does with a wrong key")
    p.add_argument("--seed", type=int, default=7, help="seed of the fault and latency draws")
    p.add_argument("--timeout-sleep", type=float, default=30.0,
                   help="seconds a timed-out request is held before the server hangs up")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = MockSettings(
            latency_median_ms=args.latency_ms, latency_sigma=args.latency_sigma,
            rate_429=args.rate_429, rate_5xx=args.rate_5xx, rate_timeout=args.rate_timeout,
            rate_malformed=args.rate_malformed, rate_unknown_tool=args.rate_unknown_tool,
            seed=args.seed)
    except ValidationError as exc:
        _parser().error(str(exc))
    try:
        server = MockServer(settings, port=args.port, timeout_sleep_s=args.timeout_sleep,
                            reject_key=args.reject_key)
        server.start()
    except OSError as exc:
        print(f"cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()  # Ctrl-C interrupts the wait
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
