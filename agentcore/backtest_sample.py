"""A loaded backtest sample topped up with what was recorded since, not read again whole.

A station backtests over the newest requests, loaded once: a million of them take
seconds to read and route. Traffic keeps arriving, so the sample is refreshed every
little while; reading only what changed since the last look (the storage's
`recorded_since`: new requests, re-runs' outcomes, operators' labels) and routing
only that through the live rules keeps the refresh to the size of the change. A
`Splice` says where each fresh row goes: a request already in the sample is replaced
where it is; a new one goes where its time puts it (newest first, as a whole read
orders them); the oldest beyond the sample's size fall off the end. Every column of
the sample, and the live routes kept beside it, are spliced alike.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
N = TypeVar("N", int, float)


@dataclass(frozen=True, slots=True)
class Splice:
    """Where fresh rows go in a sample (both newest first)."""

    inserts: list[tuple[int, int]]  # (before this row of the sample, fresh row), in order
    replaces: list[tuple[int, int]]  # (this row of the sample, fresh row)
    keep: int  # rows of the result kept: the newest, up to the sample's size

    def spliced(self, old: Sequence[T], fresh: Sequence[T]) -> list[T]:
        """A column of the sample, with the fresh rows' values of it."""
        out: list[T] = []
        self._into(out, old, fresh)
        return out

    def spliced_array(self, old: array[N], fresh: Sequence[N]) -> array[N]:
        """The same of an array (a column of floats, the live routes' set per row)."""
        out: array[N] = array(old.typecode)
        self._into(out, old, fresh)
        return out

    def _into(self, out: Any, old: Sequence[T], fresh: Sequence[T]) -> None:
        # `out`: an empty list or array, filled in place (both extend, append, index).
        last = 0
        for pos, k in self.inserts:
            out.extend(old[last:pos])
            out.append(fresh[k])
            last = pos
        out.extend(old[last:])
        before = [pos for pos, _ in self.inserts]
        for pos, k in self.replaces:
            out[pos + bisect.bisect_right(before, pos)] = fresh[k]
        del out[self.keep:]


def plan(ids: Sequence[str], times: Sequence[float], fresh_ids: Sequence[str],
         fresh_times: Sequence[float], limit: int) -> Splice:
    """How fresh rows (`fresh_ids`, received at `fresh_times`) go into a sample of rows
    `ids` received at `times`, both newest first, the result cut to `limit` rows. A
    row is found by its time (a bisection), then its id among the rows of that time:
    no index of a million ids is built for a few fresh rows."""
    inserts: list[tuple[int, int]] = []
    replaces: list[tuple[int, int]] = []
    for k, (rid, at) in enumerate(zip(fresh_ids, fresh_times, strict=True)):
        # `times` runs newest first: the first row received at or before `at`.
        pos = bisect.bisect_left(times, -at, key=lambda t: -t)
        same = pos
        while same < len(times) and times[same] == at and ids[same] != rid:
            same += 1
        if same < len(times) and times[same] == at:
            replaces.append((same, k))
        else:
            inserts.append((pos, k))
    inserts.sort()  # stable: fresh rows of one time keep the order they were read in
    return Splice(inserts, replaces, min(limit, len(ids) + len(inserts)))
