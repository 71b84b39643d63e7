"""When the live feed lets new rows in, and when it holds them behind an "N new" pill.

Rows inserted at the top move every row under the operator's cursor: a click
meant for one request opens another. So while the operator is reading (scrolled
away from the top, the pointer over the table, or a request selected) new
outcomes wait here and the feed shows how many; they go in when the operator
asks (the pill) or stops reading. Plain Python with plain callbacks: the feed's
Qt model offers it each batch and inserts what it lets through.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class HoldBack(Generic[T]):
    """Holds new items while the operator reads; `on_release(items)` gets them, oldest
    first, when the rule lets them in; `on_count(n)` says how many wait (0: none)."""

    def __init__(self, limit: int, *, on_release: Callable[[list[T]], None],
                 on_count: Callable[[int], None] = lambda _n: None) -> None:
        # At most `limit` wait: the feed shows no more rows than that anyway, so the
        # oldest held ones could never be seen. The count still says how many came.
        self._held: deque[T] = deque(maxlen=limit)
        self._count = 0
        self._on_release = on_release
        self._on_count = on_count
        self.scrolled = False
        self.hovering = False
        self.selected = False
        # Set by the view: with no row on screen nothing can move under the cursor, and
        # the pointer resting over an empty table must not keep it empty behind a pill.
        self.nothing_shown: Callable[[], bool] = lambda: False

    @property
    def holding(self) -> bool:
        return (self.scrolled or self.hovering or self.selected) and not self.nothing_shown()

    @property
    def count(self) -> int:
        """How many arrived since the feed began holding (some may have been dropped)."""
        return self._count

    @property
    def held(self) -> deque[T]:
        return self._held

    def offer(self, batch: Iterable[T]) -> list[T]:
        """The items to show now; the rest wait."""
        items = list(batch)
        if not self.holding or not items:
            return items
        self._held.extend(items)
        self._count += len(items)
        self._on_count(self._count)
        return []

    def set_scrolled(self, scrolled: bool) -> None:
        was = self.scrolled
        self.scrolled = scrolled
        # Back at the top with nothing selected: the operator came for the new rows,
        # even with the pointer still over the table (it scrolled there with the wheel).
        if was and not scrolled and not self.selected:
            self.release()

    def set_hovering(self, hovering: bool) -> None:
        self.hovering = hovering
        self._release_if_free()

    def set_selected(self, selected: bool) -> None:
        self.selected = selected
        self._release_if_free()

    def release(self) -> None:
        """Lets every held item in (the pill was clicked)."""
        items = list(self._held)
        self._held.clear()
        had = self._count
        self._count = 0
        if items:
            self._on_release(items)
        if had:
            self._on_count(0)

    def clear(self) -> None:
        """Forgets the held items (the feed was cleared)."""
        self._held.clear()
        if self._count:
            self._count = 0
            self._on_count(0)

    def _release_if_free(self) -> None:
        if not self.holding:
            self.release()
