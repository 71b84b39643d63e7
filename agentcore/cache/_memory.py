"""L1: an in-memory LRU bounded in entries and in (estimated) bytes, with TTL.

An OrderedDict gives O(1) get, move-to-end and evict-oldest; a tag index
(tag -> keys) makes dropping one tag cost O(entries carrying it), not a scan.
Not thread-safe: the engine uses it from its event loop only.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from dataclasses import dataclass

from agentcore.cache._model import CachedAnswer

# Rough fixed cost of one entry beyond its strings: the dataclasses, the
# OrderedDict node, the tag-index sets. Only the order of magnitude matters.
_ENTRY_OVERHEAD = 400


@dataclass(slots=True)
class _Entry:
    cached: CachedAnswer
    expires: float  # on the monotonic clock
    size: int


def estimate_size(key: str, cached: CachedAnswer) -> int:
    return (_ENTRY_OVERHEAD + sys.getsizeof(key) + sys.getsizeof(cached.answer)
            + sum(sys.getsizeof(t) + 80 for t in cached.tags))  # + 80: the index's set slot


class MemoryTier:
    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._by_tag: dict[str, set[str]] = {}
        self.bytes = 0
        self.evictions = 0
        self.invalidations = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, now: float) -> CachedAnswer | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= now:
            self._remove(key)
            return None
        self._entries.move_to_end(key)
        return entry.cached

    def holds(self, key: str, now: float) -> bool:
        """Whether `get` would find `key` now (without making it the most recent)."""
        entry = self._entries.get(key)
        return entry is not None and entry.expires > now

    def put(self, key: str, cached: CachedAnswer, expires: float) -> bool:
        """Holds `cached` until `expires`; False when it alone exceeds the byte bound."""
        if key in self._entries:
            self._remove(key)
        size = estimate_size(key, cached)
        if size > self.max_bytes:
            return False
        self._entries[key] = _Entry(cached, expires, size)
        self.bytes += size
        for tag in cached.tags:
            self._by_tag.setdefault(tag, set()).add(key)
        self._evict()
        return True

    def _evict(self) -> None:
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            self._remove(next(iter(self._entries)))  # the least recently used
            self.evictions += 1

    def invalidate(self, tags: list[str] | tuple[str, ...] | set[str]) -> int:
        """Drops every entry carrying any of `tags`; returns how many went."""
        dropped = 0
        for tag in tags:
            for key in self._by_tag.pop(tag, ()):
                if key in self._entries:
                    self._remove(key)
                    dropped += 1
        self.invalidations += dropped
        return dropped

    def resize(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._evict()

    def clear(self) -> None:
        self._entries.clear()
        self._by_tag.clear()
        self.bytes = 0

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key)
        self.bytes -= entry.size
        for tag in entry.cached.tags:
            keys = self._by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_tag[tag]
