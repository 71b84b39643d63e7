"""What the learned tier learns from: recorded requests whose intent someone vouched for.

Trust, from most to least: an operator's label; an operator's reply to an escalated
request (the intent it carried stood, and they could have labelled it otherwise);
the decide model's intent on a request it answered; the intent of the rule that
answered. Left out unless labelled: escalated requests (the model was unsure or not
allowed), answers from the cache (the first answer counted already), the ladder's
and the tier's own answers (learning from itself would only confirm it), and the
catch-all intent (it names no answer). A text recorded many times counts once: the
most trusted intent wins, then the newest.
"""

from __future__ import annotations

from pathlib import Path

from agentcore.guard import normalise
from agentcore.learned._model import Example
from agentcore.storage import SQLiteTraffic, TrafficRepository

DEFAULT_LIMIT = 100_000
SOURCES = ("label", "resolution", "llm", "rule")  # most trusted first
_RANK = {source: len(SOURCES) - i for i, source in enumerate(SOURCES)}


def training_examples(traffic: TrafficRepository | Path, *, limit: int = DEFAULT_LIMIT,
                      catch_all: str | None = None) -> list[Example]:
    """Examples from the newest `limit` recorded requests (read on the caller's thread:
    a worker's), newest first. `traffic`: a running engine's `store.traffic`, or an
    engine database file; `catch_all`: the domain's catch-all intent, skipped unless
    an operator labelled it (the engine's `LearnedTier.examples` passes it)."""
    source = SQLiteTraffic(traffic) if isinstance(traffic, Path) else traffic
    best: dict[str, Example] = {}
    for _id, text, _at, route, status, intent, label, resolution in source.intent_rows(limit):
        example = _vouched(normalise(text), route, status, intent, label, resolution,
                           catch_all)
        if example is None:
            continue
        held = best.get(example.text)
        # Rows come newest first: an equal rank already held is the newer one.
        if held is None or _RANK[example.source] > _RANK[held.source]:
            best[example.text] = example
    return list(best.values())


def _vouched(text: str, route: str, status: str, intent: str | None, label: str | None,
             resolution: str | None, catch_all: str | None) -> Example | None:
    if not text:
        return None
    if label:
        return Example(text, label, "label")
    if not intent or intent == catch_all:
        return None
    if route == "human" and resolution == "replied":
        return Example(text, intent, "resolution")
    if status != "answered":
        return None
    if route == "llm":
        return Example(text, intent, "llm")
    if route == "rule":
        return Example(text, intent, "rule")
    return None
