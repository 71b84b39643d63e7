"""`agentcore learned status|train|backtest|undo|enable|disable`: the learned tier
from the command line, on the engine database of the settings (or --data-dir).

`train` learns from the recorded traffic, backtests on a hold-out first (each
example predicted by a model that never saw it) and saves a new version, switched
OFF unless `--enable`: an operator reads the backtest before the tier answers
anyone. `backtest` runs that hold-out without saving (or, with `--current`, the
current model over the recorded traffic, which it may have trained on: flattering).
Every command prints what it did; `--json` gives the same to machines.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from agentcore.errors import LearnedModelError
from agentcore.learned import (
    TierBacktest,
    TierVersion,
    backtest,
    backtest_holdout,
    train,
)
from agentcore.settings import Settings

if TYPE_CHECKING:
    from agentcore.engine import Engine

_EPILOG = """\
Exit status: 0 done; 1 a bug; 2 bad settings or arguments, or the tier refused
(too few labelled requests to train on, nothing to undo, no model yet)."""


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a probability, e.g. 0.9") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value}: above 0 and at most 1")
    return value


def add_learned_parser(sub: Any) -> None:
    """`sub`: the `add_subparsers` result of the main parser."""
    learned = sub.add_parser("learned", help="the learned intent tier: status, train, "
                             "backtest, undo", description=__doc__, epilog=_EPILOG,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = learned.add_subparsers(dest="learned_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="one JSON object on stdout")
    common.add_argument("--operator", help="who the change is recorded under "
                                           "(default: the settings' operator)")
    actions.add_parser("status", parents=[common], help="the current version and its backtest")
    for name, helped in (("train", "train on the recorded traffic, backtest on a hold-out, "
                                   "save a version (off unless --enable)"),
                         ("backtest", "the hold-out backtest of a retrain, without saving")):
        action = actions.add_parser(name, parents=[common], help=helped)
        action.add_argument("--threshold", type=_threshold, default=None,
                            help="answer at or above this confidence (default: the current "
                                 "version's, else the settings' learned.threshold)")
        action.add_argument("--limit", type=int, default=None,
                            help="newest recorded requests to read (default: the settings')")
        if name == "train":
            action.add_argument("--enable", action="store_true",
                                help="switch the new version on at once")
        else:
            action.add_argument("--current", action="store_true",
                                help="the current model over the recorded traffic instead "
                                     "(it may have trained on it: flatters)")
    actions.add_parser("undo", parents=[common], help="back to the version before the last "
                                                      "change")
    actions.add_parser("enable", parents=[common], help="switch the current version on")
    actions.add_parser("disable", parents=[common], help="switch the current version off")


async def run_learned(settings: Settings, args: argparse.Namespace) -> int:
    from agentcore.engine import Engine

    engine = Engine(settings)
    try:
        return _run(engine, args)
    finally:
        await engine.close()


def _run(engine: Engine, args: argparse.Namespace) -> int:
    tier = engine.learned
    operator = args.operator or engine.settings.escalations.operator
    command = args.learned_command
    if command == "status":
        current = tier.current()
        text = _status_text(current)
        if tier.problem:
            text += f"\n  but it does not answer: {tier.problem}"
        _print(args, {"version": _version(current), "versions": len(tier.versions()),
                      "problem": tier.problem}, text)
        return 0
    if command in ("undo", "enable", "disable"):
        if command == "undo":
            version = tier.undo(operator)
            if version is None:
                raise LearnedModelError("nothing to undo: the learned tier has no earlier "
                                        "version")
        else:
            version = tier.set_enabled(command == "enable", operator)
        _print(args, {"version": _version(version)}, _status_text(version))
        return 0
    current = tier.current()
    threshold = args.threshold or (current.threshold if current else tier.default_threshold)
    limit = args.limit or engine.settings.learned.training_limit
    examples = tier.training_examples(limit)
    answerable = engine.router.answerable_intents()  # what the learned route answers
    if command == "backtest" and args.current:
        model = tier.model()
        if model is None:
            raise LearnedModelError("the learned tier has no model yet: "
                                    "`agentcore learned train` first")
        result = backtest(model, examples, threshold=threshold, answerable=answerable,
                          method="the current model over recorded traffic (it may have "
                                 "trained on it: flatters)")
        _print(args, {"backtest": result.as_dict()}, _backtest_text(result))
        return 0
    result = backtest_holdout(examples, threshold=threshold, answerable=answerable,
                              folds=engine.settings.learned.holdout_folds)
    if command == "backtest":
        _print(args, {"backtest": result.as_dict()}, _backtest_text(result))
        return 0
    version = tier.save(train(examples), threshold, args.enable, operator, result)
    _print(args, {"version": _version(version), "backtest": result.as_dict()},
           _backtest_text(result) + "\n" + _status_text(version))
    return 0


def _print(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else text)


def _version(version: TierVersion | None) -> dict[str, Any] | None:
    if version is None:
        return None
    return {"id": version.id, "created_at": version.created_at, "operator": version.operator,
            "action": version.action, "examples": version.examples,
            "threshold": version.threshold, "enabled": version.enabled,
            "model_of": version.model_of, "restores": version.restores,
            "backtest": None if version.backtest is None else version.backtest.as_dict()}


def _status_text(version: TierVersion | None) -> str:
    if version is None:
        return "learned tier: no model yet (`agentcore learned train` makes one)"
    state = "ON" if version.enabled else "off"
    line = (f"learned tier: version {version.id} ({version.action} by {version.operator}), "
            f"{state}, threshold {version.threshold:.2f}, trained on {version.examples} "
            f"examples (model of version {version.model_of})")
    if version.backtest is not None:
        line += f"\n  backtest {version.backtest.summary()}"
    return line


def _backtest_text(result: TierBacktest) -> str:
    lines = [f"backtest {result.summary()}", "  threshold  answered  coverage  precision"]
    for point in result.curve:
        precision = "-" if point.precision is None else f"{point.precision:.1%}"
        lines.append(f"  {point.threshold:>9.2f}  {point.answered:>8}  {point.coverage:>8.1%}"
                     f"  {precision:>9}")
    for wrong in result.wrong[:10]:
        lines.append(f"  wrong: {wrong.text!r} -> {wrong.predicted} (expected "
                     f"{wrong.expected}) at {wrong.confidence:.2f}")
    return "\n".join(lines)
