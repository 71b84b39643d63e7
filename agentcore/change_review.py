"""What an operator must confirm before a rule set goes live: the warnings its backtest
raises. Qt-free, so the rule is tested headless and the console only shows it.

A rule edit is meant to move a handful of requests. Applied, a set that answers
a large share of traffic differently, or answers it worse, changes what every
customer is told at once; the backtest has already measured both, so Apply asks
first instead of letting a slip of the keyboard take over the fast path.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentcore.backtest import BacktestResult
from agentcore.router import Rule

# More than this share of the replayed requests answered by another rule, or joining or
# leaving the fast path, is a change to how the agent treats traffic, not a tweak of one
# rule: the shipped rules each answer 0.5-10% of the corpus, so disabling a small one
# goes through and disabling one of the big ones asks.
MAX_MOVED_SHARE = 0.05
# Below this many moved requests a share is noise of a small sample (60 of 1,000 asks,
# 3 of 50 does not): the operator reads those few in the Changes list anyway.
MIN_MOVED = 10
# A rule whose precision falls by more than this many points now answers requests it
# misreads (one customer in ten told about the wrong thing). Measured only with this
# many requests of a known intent behind the figure: with fewer, one request is
# several points and the figure is noise.
MAX_PRECISION_DROP = 0.10
MIN_KNOWN = 20


def apply_warnings(rules: Sequence[Rule], result: BacktestResult | None) -> list[str]:
    """Why applying `rules` needs an explicit "apply anyway", worst first; [] when it
    does not. `result` is their backtest against the live rules (None: none could run,
    so only what the rules alone show is said)."""
    warnings = []
    if not any(rule.enabled for rule in rules):
        warnings.append("No rule is enabled: every request would leave the fast path and "
                        "go to the LLM.")
    if result is not None and result.total:
        warnings += _precision_drops(result)
        moved = _moved(result)
        if moved:
            warnings.append(moved)
    return warnings


def _moved(result: BacktestResult) -> str | None:
    gained, lost, switched = (result.count(k) for k in ("gained", "lost", "switched"))
    moved = gained + lost + switched
    if moved < MIN_MOVED or moved / result.total <= MAX_MOVED_SHARE:
        return None
    return (f"{moved / result.total:.0%} of the {result.total:,} replayed requests would be "
            f"answered differently ({gained:,} join the fast path, {lost:,} leave it, "
            f"{switched:,} switch rule); the fast path goes from "
            f"{result.share(result.fast_before):.0%} to {result.share(result.fast_after):.0%}.")


def _precision_drops(result: BacktestResult) -> list[str]:
    """Rules that would misread more of what they answer than they do today. Most of
    a rule's own traffic has no known intent (the rule answered it, nobody checked),
    so its figure usually comes from the requests it would gain from the LLM: with
    no live figure to compare, the bar is as if it were right on all of them today."""
    drops: list[tuple[float, str]] = []
    for rule_id, (agree, known) in result.precision.items():
        if known < MIN_KNOWN:
            continue
        now = agree / known
        was_agree, was_known = result.precision_before.get(rule_id, (0, 0))
        was = was_agree / was_known if was_known >= MIN_KNOWN else 1.0
        if was - now <= MAX_PRECISION_DROP:
            continue
        if was_known >= MIN_KNOWN:
            text = (f"Rule {rule_id}'s precision would fall from {was:.0%} to {now:.0%} "
                    f"({agree:,} of the {known:,} requests of a known intent it would answer "
                    "agree with it).")
        else:
            text = (f"Rule {rule_id} would be right on only {now:.0%} of the {known:,} "
                    f"requests of a known intent it would answer ({agree:,} agree; the LLM "
                    "or an operator read the rest as another intent).")
        drops.append((was - now, text))
    return [text for _, text in sorted(drops, key=lambda d: d[0], reverse=True)]
