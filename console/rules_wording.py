"""How the rules view words counts and what a change costs (Qt-free, tested headless).

One convention for money and waiting everywhere in the view (the backtest's
summary, its changes, the suggestions): a verb, never a bare sign. The core's
figures are deltas, negative when a change saves; "saves $0.12 a day" and "adds
$0.12 a day" say which way without the operator knowing that.
"""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 suggestion`, `2 suggestions`, `1,204 requests` (`many` for irregular words)."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def money(dollars: float, *, per: str = "", places: int = 2) -> str:
    """A cost delta in words: negative saves, positive adds; `per` follows the amount
    ("a day", "a request")."""
    tail = f" {per}" if per else ""
    if abs(dollars) < 0.5 * 10 ** -places:  # would print as $0.00
        return "no change in cost"
    verb = "saves" if dollars < 0 else "adds"
    return f"{verb} ${abs(dollars):,.{places}f}{tail}"


def waiting(seconds: float, *, per: str = "") -> str:
    """A latency delta in words, as `money`: "saves 3.2 min of waiting a day"."""
    tail = f" {per}" if per else ""
    s = abs(seconds)
    if s < 0.05:
        return "no change in waiting"
    text = f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.1f} min" if s >= 60 else f"{s:.1f} s"
    return f"{'saves' if seconds < 0 else 'adds'} {text} of waiting{tail}"
