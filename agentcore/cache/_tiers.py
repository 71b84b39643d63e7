"""The two tiers behind one object: look up L1, then L2 (promoting hits), store in both.

L2 is the engine database's answer cache repository (agentcore.storage).
Freshness: every lookup first asks each change log it follows (`follow`: the
domain's, e.g. the demo shop's triggers) whether anything was committed since the
last look, and invalidates the tags logged since (L2 entries go in that
transaction, and the invalidation log records them for every process). Then it
reads the engine database's invalidation log past the row it last applied (one
indexed read, ~2.5 µs on SQLite when nothing is new) and drops the logged tags from
memory. When L1 holds neither key, that read and L2's come back from one call
(`log_and_entry`: one round trip to PostgreSQL, not two or three), the entry read
after the log. Writes this process knows of arrive through `changed` (the domain's
`watch`) at once.

A cache failure never fails a request: a lookup that cannot reach SQLite is a
miss (and L1 is emptied, since its freshness can no longer be checked), a store
that cannot is skipped. Only `invalidate` and `clear` raise StorageError, since
their caller must know the entries may still be there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from agentcore.cache._memory import MemoryTier
from agentcore.cache._model import (
    ALL_TAG,
    CachedAnswer,
    CacheHit,
    CacheStats,
    customer_key,
    normalise,
    shared_key,
)
from agentcore.cache._settings import CacheSettings
from agentcore.clock import Clock
from agentcore.domain import CacheTags, ChangeSource
from agentcore.errors import StorageError
from agentcore.models import Route
from agentcore.router import CACHE_POLICIES, CachePolicy
from agentcore.storage import AnswerCacheRepository, StoredAnswer

log = logging.getLogger("agentcore.cache")

_CATCH_UP_LIMIT = 4096  # more logged changes than this: emptying L1 is cheaper
_MAINTAIN_EVERY = 256  # stores between purges of expired entries and old log rows


class AnswerCache:
    def __init__(self, l2: AnswerCacheRepository, settings: CacheSettings,
                 clock: Clock, tags: CacheTags) -> None:
        """`tags` is the domain's naming of its entities: an answer tagged with one
        (or with a customer) read someone's records, and is never kept shared."""
        self.settings = settings
        self._customer_prefix = f"{tags.customer_prefix}:"
        self._entity_prefixes = tuple(dict.fromkeys(
            [*(f"{p}:" for p in tags.entities.values()), self._customer_prefix]))
        self.clock = clock
        self._memory = MemoryTier(settings.l1_max_entries, settings.l1_max_bytes)
        self._disk = l2
        self._sources: list[ChangeSource] = []
        self._behind: set[str] = set()  # sources whose last changes are not applied yet
        self._position = self._disk.log_head()  # the last log row L1 has applied
        self._closed = False
        self._l1_hits = self._l2_hits = self._misses = 0
        self._stores = self._stale_skips = 0
        self._disk.maintain(clock.now(), settings.log_keep)

    def follow(self, source: ChangeSource) -> None:
        """Invalidates what `source` logs, from where the cache last read it (so changes
        made while no engine ran count too), then at every lookup and store."""
        self._sources.append(source)
        self._follow_sources()

    def configure(self, settings: CacheSettings) -> None:
        """Applies edited settings; a smaller L1 evicts at once."""
        self.settings = settings
        self._memory.resize(settings.l1_max_entries, settings.l1_max_bytes)

    def close(self) -> None:
        self._closed = True
        self._disk.close()

    @property
    def position(self) -> int:
        """Where this cache has read the invalidation log up to. Take it after a missed
        lookup and pass it to `store(since=...)`: a change to the answer's entities
        committed in between then keeps the (possibly stale) answer out."""
        return self._position

    # -- reads ---------------------------------------------------------------

    def lookup(self, text: str, customer_id: int | None) -> CacheHit | None:
        """The customer's own answer to `text`, else the shared one, else None."""
        if not self.settings.enabled:
            return None
        text = normalise(text)
        keys = ((customer_key(customer_id, text), shared_key(text)) if customer_id is not None
                else (shared_key(text),))
        mono, now = self.clock.monotonic(), self.clock.now()
        stored: StoredAnswer | None = None  # L2's entry, when read along with the log
        afresh = False
        try:
            self._follow_sources()
            in_l1 = any(self._memory.holds(key, mono) for key in keys)
            if in_l1:
                self._catch_up()
            else:  # L1 can't answer: catch up and read L2 in one call (one round trip)
                rows, stored = self._disk.log_and_entry(self._position, _CATCH_UP_LIMIT + 1,
                                                        keys, now)
                afresh = self._apply_log(rows)
        except StorageError as exc:
            log.warning("answer cache unreadable, serving nothing from it: %s", exc)
            self._memory.clear()
            self._misses += 1
            return None
        # Expiry judged after the reads: a stalled link must not stretch an entry's life.
        mono, now = self.clock.monotonic(), self.clock.now()
        if not in_l1:
            if stored is not None and stored.expires_at > now:
                # Not kept in L1 after a fresh start: the position moved to a head read
                # after the entry, so an invalidation in between would never reach it.
                return self._promoted(stored, mono, now, keep=not afresh)
            self._misses += 1
            return None
        for key in keys:
            cached = self._memory.get(key, mono)
            if cached is not None:
                self._l1_hits += 1
                return CacheHit("l1", cached)
        for key in keys:  # what L1 held went with the log's invalidations
            try:
                found = self._disk.get(key, now)
            except StorageError as exc:
                log.warning("answer cache lookup failed: %s", exc)
                break
            if found is not None:
                return self._promoted(found, mono, now)
        self._misses += 1
        return None

    def _promoted(self, found: StoredAnswer, mono: float, now: float, *,
                  keep: bool = True) -> CacheHit:
        """An L2 hit, kept in L1 too (never past its L2 expiry) unless not `keep`."""
        cached = _answer(found)
        if keep:
            self._memory.put(found.key, cached,
                             mono + min(self.settings.l1_ttl_s, found.expires_at - now))
        self._l2_hits += 1
        return CacheHit("l2", cached)

    def lookup_by_intent(self, intent: str, customer_id: int | None = None) -> CacheHit | None:
        """The most recent live shared answer of `intent`, for the degradation ladder
        (`agentcore.ladder.IntentCache`). Read from L2, which holds every entry.

        Shared only, whoever asks (`customer_id` is the ladder's, and unused): a
        per-customer answer is about one order or account, and another question
        of the same intent may be about another."""
        if not self.settings.enabled:
            return None
        try:
            self._follow_sources()
            found = self._disk.latest_shared(intent, self.clock.now())
        except StorageError as exc:
            log.warning("answer cache lookup by intent failed: %s", exc)
            return None
        return CacheHit("l2", _answer(found)) if found is not None else None

    # -- writes --------------------------------------------------------------

    def store(self, policy: CachePolicy, text: str, customer_id: int | None, *, answer: str,
              intent: str | None, rule_id: str | None, route: Route, tags: Iterable[str],
              since: int | None = None) -> bool:
        """Keeps an answer in both tiers; False when it is not kept.

        Not kept: policy 'never', a per-customer answer without a customer, or
        (given `since`) one whose entities changed while it was computed. A
        'shared' answer tagged with an order or customer read someone's records,
        so it is kept per customer instead."""
        if policy not in CACHE_POLICIES:
            raise ValueError(f"cache policy must be one of {CACHE_POLICIES}, not {policy!r}")
        if not self.settings.enabled or policy == "never":
            return False
        tag_list = list(dict.fromkeys(tags))
        if policy == "shared" and any(t.startswith(self._entity_prefixes) for t in tag_list):
            policy = "per-customer"
        text = normalise(text)
        if policy == "per-customer":
            if customer_id is None:
                return False
            key = customer_key(customer_id, text)
            tag_list = list(dict.fromkeys([*tag_list, f"{self._customer_prefix}{customer_id}"]))
        else:
            key, customer_id = shared_key(text), None
        now = self.clock.now()
        cached = CachedAnswer(answer, intent, rule_id, Route(route), tuple(tag_list), now,
                              policy, customer_id)
        try:
            self._follow_sources()  # a change committed meanwhile is in the log `since` reads
            kept = self._disk.put(StoredAnswer(key, policy, intent, cached.as_json(),
                                               cached.tags, now, now + self.settings.l2_ttl_s),
                                  since)
        except StorageError as exc:
            log.warning("answer not cached: %s", exc)
            return False
        if not kept:
            self._stale_skips += 1
            return False
        # Never longer in memory than on disk, whichever TTL an operator set higher.
        ttl = min(self.settings.l1_ttl_s, self.settings.l2_ttl_s)
        self._memory.put(key, cached, self.clock.monotonic() + ttl)
        self._stores += 1
        if self._stores % _MAINTAIN_EVERY == 0:
            try:
                self._disk.maintain(now, self.settings.log_keep)
            except StorageError as exc:  # next time, then
                log.warning("answer cache purge failed: %s", exc)
        return True

    def invalidate(self, tags: Iterable[str]) -> None:
        """Drops every entry carrying any of `tags` from both tiers, here and (through
        the log) from other processes' L1 at their next lookup."""
        tag_list = list(dict.fromkeys(tags))
        if not tag_list:
            return
        self._memory.invalidate(tag_list)
        self._disk.invalidate(tag_list)
        self._catch_up()

    def clear(self) -> None:
        self._memory.clear()
        self._disk.invalidate([ALL_TAG])
        self._catch_up()

    def changed(self, tags: list[str]) -> None:
        """A change notification (a write of this process committed): like
        `invalidate`, but it never raises, or the tool that wrote would report a
        failure for an action it did; a failure empties L1 instead."""
        if self._closed:
            return
        self._memory.invalidate(tags)
        try:
            self.invalidate(tags)
        except StorageError as exc:
            log.warning("answer cache could not log a change, emptying L1: %s", exc)
            self._memory.clear()

    # -- freshness -----------------------------------------------------------

    def _catch_up(self) -> None:
        """Applies to L1 the tags logged since `position`.

        Reading the log is itself the check (~2.5 µs when nothing is new): `PRAGMA
        data_version` would be as dear, and it moves at every commit to the engine
        database (each accepted request, each outcome), so a lookup would pay for
        both. Sequence numbers are handed out by one writer at a time, so a row
        past `position` is visible exactly once its invalidation committed."""
        self._apply_log(self._disk.log_since(self._position, _CATCH_UP_LIMIT + 1))

    def _apply_log(self, rows: list[tuple[int, str]]) -> bool:
        """Drops from L1 the tags of log `rows` (read past `position`, at most
        _CATCH_UP_LIMIT + 1), and moves `position` past them. True when L1 started
        afresh instead, from the log's head as read now (later than `rows`)."""
        if not rows:
            return False
        tags = {tag for _, tag in rows}
        if rows[0][0] != self._position + 1 or len(rows) > _CATCH_UP_LIMIT or ALL_TAG in tags:
            # Pruned past us, too much to replay, or a clear: start L1 afresh.
            self._memory.clear()
            self._position = self._disk.log_head()
            return True
        self._memory.invalidate(tags)
        self._position = rows[-1][0]
        return False

    def _follow_sources(self) -> None:
        """Invalidates the tags each followed change log has logged since the position
        recorded in L2 (shared by every process on the engine database)."""
        for source in self._sources:
            if not source.changed() and source.name not in self._behind:
                continue
            self._behind.add(source.name)  # until applied: a failure below is retried
            self._apply(source)
            self._behind.discard(source.name)

    def _apply(self, source: ChangeSource) -> None:
        head = source.head()
        at = self._disk.source_position(source.name)
        if at is None or head < at:  # first followed, or a new file: from its head
            if at is not None:
                self.clear()
            self._disk.set_source_position(source.name, head)
            return
        rows = source.since(at, _CATCH_UP_LIMIT + 1)
        if not rows:
            return
        if rows[0][0] != at + 1 or len(rows) > _CATCH_UP_LIMIT:
            # Pruned past what was applied, or too much to replay: nothing can be
            # ruled out, every entry goes.
            self._memory.clear()
            self._disk.invalidate([ALL_TAG], source=(source.name, head))
        else:
            tags = list(dict.fromkeys(tag for _, tag in rows))
            self._memory.invalidate(tags)
            self._disk.invalidate(tags, source=(source.name, rows[-1][0]))
        self._catch_up()

    # -- reporting -----------------------------------------------------------

    @property
    def stats(self) -> CacheStats:
        try:
            l2_entries = self._disk.count()
        except StorageError:
            l2_entries = -1
        memory = self._memory
        return CacheStats(l1_hits=self._l1_hits, l2_hits=self._l2_hits, misses=self._misses,
                          stores=self._stores, stale_skips=self._stale_skips,
                          evictions=memory.evictions, invalidations=memory.invalidations,
                          l1_entries=len(memory), l1_bytes=memory.bytes, l2_entries=l2_entries)


def _answer(found: StoredAnswer) -> CachedAnswer:
    return CachedAnswer.from_json(found.value, found.tags, found.stored_at)
