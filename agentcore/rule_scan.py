"""Which of many texts one pattern matches, in one pass of RE2's automaton over them all.

A backtest asks the router about every recorded request, one Set match each: a
microsecond a call in the Python binding, whatever the text, so a million requests
cost over a second per rule set. When an operator edits one rule, only that rule's
answers can change; `TextBlock` joins the (normalised) texts one per line into one
buffer and `rows_matching` finds the texts a single pattern matches with one call
per matching text, the rest scanned at the automaton's speed (~0.1 s per million
texts of the shipped corpus).

What keeps it exact: normalised texts hold no line breaks (whitespace is collapsed),
the pattern is compiled with `never_nl` (no class, dot or escape matches the line
break, so no match spans two texts) and multi-line (`^` and `$` hold at each text's
edges, as they do at a lone text's), and a line break is no word character, so `\\b`
and `\\B` see a text's edge as they would alone. Patterns that would see the buffer
instead (its edges `\\A` and `\\z`, multi-line switched off, `\\C`) are refused: the
caller routes text by text instead.
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections.abc import Callable, Sequence

import re2
from re2 import _re2

from agentcore.backtest_sample import Splice
from agentcore.errors import BacktestCancelled

# What would see the buffer rather than one text: its edges (`\A`, `\z`), multi-line
# switched off again (`(?-m)`, `(?i-m:`), and `\C` (any byte, a line break too).
_BUFFER_EDGES = re.compile(r"\\[AzC]|\(\?[A-Za-z]*-[A-Za-z]*m")
# A named group: what `never_capture` leaves capturing (RE2 keeps names), and what
# makes each match pay for its groups. Not after a backslash: `\(?P<x>` is literal.
_NAMED_GROUP = re.compile(r"(?<!\\)\(\?P?<[A-Za-z_][A-Za-z0-9_]*>")
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED
POLL_EVERY = 4096  # texts (or matches) between looks at a backtest's `cancelled`


class TextBlock:
    """Normalised texts as one UTF-8 buffer, a line each, with where each begins."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._index("\n".join(texts).encode(), len(texts))

    def _index(self, buffer: bytes, count: int) -> None:
        import numpy as np  # not at import: the console's cold start defers numpy

        self.count = count
        self.buffer = buffer
        breaks = np.flatnonzero(np.frombuffer(buffer, dtype=np.uint8) == ord("\n"))
        # A text with a line break of its own would split in two: scanning says no.
        self.usable = len(breaks) == max(count - 1, 0)
        # starts[i]: text i's first byte; starts[count] lies past the buffer's end.
        edges = np.concatenate(([0], breaks + 1, [len(buffer) + 1])).astype(np.int64)
        self.starts = array("q", edges.tobytes())

    def spliced(self, splice: Splice, texts: Sequence[str], fresh: Sequence[str],
                ) -> TextBlock:
        """The block of `splice.spliced(texts, fresh)` (`texts`: this block's), its
        runs of unchanged texts copied as bytes, not joined and encoded again."""
        if not self.usable or any(texts[pos] != fresh[k] for pos, k in splice.replaces):
            return TextBlock(splice.spliced(texts, fresh))
        runs: list[bytes] = []
        last = 0
        for pos, k in splice.inserts:
            if pos > last:  # texts last..pos-1, without the line break after them
                runs.append(self.buffer[self.starts[last]:self.starts[pos] - 1])
            runs.append(fresh[k].encode())
            last = pos
        if last < self.count:
            runs.append(self.buffer[self.starts[last]:])
        block = TextBlock.__new__(TextBlock)
        block._index(b"\n".join(runs), self.count + len(splice.inserts))
        if not block.usable:  # a fresh text with a line break: a block that says so
            return TextBlock(splice.spliced(texts, fresh))
        if splice.keep < block.count:  # the oldest fall off the end
            block._index(block.buffer[:block.starts[splice.keep] - 1], splice.keep)
        return block


def scannable(pattern: str) -> bool:
    """Whether `rows_matching` answers for `pattern` exactly (see the module)."""
    return _BUFFER_EDGES.search(pattern) is None


def rows_matching(pattern: str, options: re2.Options, block: TextBlock,
                  cancelled: Callable[[], bool] = lambda: False) -> list[int]:
    """Indices of the texts in `block` that `pattern` (as compiled with `options`,
    expanded) matches somewhere, in order."""
    if not block.usable or not scannable(pattern):
        raise ValueError("this pattern or these texts cannot be scanned as one buffer")
    scan_options = re2.Options()
    for name in re2.Options.NAMES:
        setattr(scan_options, name, getattr(options, name))
    scan_options.never_nl = True
    scan_options.never_capture = True
    regex = _re2.RE2(("(?m)" + _NAMED_GROUP.sub("(?:", pattern)).encode(), scan_options)
    if not regex.ok():
        raise ValueError(f"the scan form of the pattern does not compile: {regex.error()}")
    match, starts, buffer, end = regex.Match, block.starts, block.buffer, len(block.buffer)
    rows: list[int] = []
    pos = 0
    while pos <= end:
        if len(rows) % POLL_EVERY == POLL_EVERY - 1 and cancelled():
            raise BacktestCancelled("superseded")
        found = match(_UNANCHORED, buffer, pos, end)[0][0]
        if found < 0:
            break
        row = bisect.bisect_right(starts, found) - 1
        rows.append(row)
        pos = starts[row + 1]  # the next text: one match says enough of this one
    return rows
