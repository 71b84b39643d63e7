"""The learned tier's versions on disk (on both backends), and the recorded traffic it
learns from."""

from __future__ import annotations

import threading

import pytest

from agentcore.learned import training_examples
from agentcore.models import Outcome, Route, Status
from agentcore.storage import LearnedRecord, Storage
from tests.agentcore.storage.records import answered, escalated, request

DAY = 86_400.0


def version(action: str = "train", threshold: float = 0.9, enabled: bool = False,
            model_of: int | None = None, at: float = 1_000.0) -> LearnedRecord:
    return LearnedRecord(at, "alice", action, 120, threshold, enabled, model_of=model_of,
                         backtest={"method": "hold-out, 5 folds", "answered": 80})


def test_a_version_keeps_its_model_and_a_cheap_one_reuses_it(open_store):
    backend = open_store()
    first = backend.learned.add(version(), b"model-1")
    assert first.model_of == first.id
    switched = backend.learned.add(version("enable", enabled=True, model_of=first.id))
    assert backend.learned.latest() == switched
    assert backend.learned.model(switched.id) == b"model-1"  # no copy made, still found
    assert switched.backtest == {"method": "hold-out, 5 folds", "answered": 80}
    assert [v.id for v in backend.learned.log()] == [first.id, switched.id]
    assert backend.learned.model(999) is None


def test_a_version_with_both_or_neither_model_is_refused(open_store):
    backend = open_store()
    with pytest.raises(ValueError):
        backend.learned.add(version())
    first = backend.learned.add(version(), b"m")
    with pytest.raises(ValueError):
        backend.learned.add(version(model_of=first.id), b"m")


def test_another_process_opening_the_file_sees_the_same_current_version(open_store):
    first = open_store()
    saved = first.learned.add(version(threshold=0.8), b"blob")
    first.close()
    again = open_store()
    assert again.learned.latest() == saved
    assert again.learned.model(saved.id) == b"blob"


def test_a_models_bytes_come_back_exactly(open_store):
    model = bytes(range(256)) * 8192 + b"\x00\x00end"  # 2 MB, NULs and high bytes
    saved = open_store().learned.add(version(), model)
    assert open_store().learned.model(saved.id) == model


def test_versions_are_saved_safely_from_several_threads_at_once(open_store):
    backend = open_store()
    base = backend.learned.add(version(), b"m")
    errors: list[BaseException] = []

    def save(n: int) -> None:
        try:
            for i in range(25):
                backend.learned.add(version("threshold", threshold=0.5 + i / 100,
                                            model_of=base.id, at=n * 100 + i))
                backend.learned.latest()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(backend.learned.log()) == 1 + 4 * 25


def test_the_version_committed_last_is_current_though_a_slow_one_took_its_id_first(
        open_store):
    """Ben's station is still uploading a big model when Ann saves a quick "off": the
    current version on every station is the decision committed last."""
    if open_store.kind != "postgresql":
        pytest.skip("SQLite's writers take turns under its write lock")
    import psycopg

    from agentcore.storage._pg_learned import LEARNED_LOCK

    anns = open_store()
    first = anns.learned.add(version(), b"m")
    saved: list[int] = []
    with psycopg.connect(open_store.location, password=open_store.password) as bens, \
            bens.transaction():  # Ben's save, as `add` makes it, its upload not done
        bens.execute("SELECT pg_advisory_xact_lock(%s)", (LEARNED_LOCK,))
        (slow,) = bens.execute(
            "INSERT INTO learned_models (created_at, operator, action, examples, threshold,"
            " enabled, model) VALUES (2000, 'ben', 'train', 5, 0.9, 1, 'big') RETURNING id"
            ).fetchone()
        bens.execute("UPDATE learned_models SET model_of = id WHERE id = %s", (slow,))
        quick = threading.Thread(target=lambda: saved.append(anns.learned.add(
            version("disable", model_of=first.id, at=2001)).id))
        quick.start()
        quick.join(timeout=1.0)
        ann_first = not quick.is_alive()
    quick.join()
    last = slow if ann_first else saved[0]
    assert open_store().learned.latest().id == last


def test_retention_never_prunes_a_model(open_backend, clock):
    store = open_backend(retention_days=30)
    saved = store.learned.add(version(at=clock.now() - 400 * DAY), b"old model")
    req = request(1, at=clock.now() - 40 * DAY)
    store.requests.accept(req)
    store.requests.finish(answered(req))
    assert store.prune().requests == 1
    assert store.learned.model(saved.id) == b"old model"


# -- what the tier learns from ---------------------------------------------------


def record(store: Storage, n: int, text: str, route: Route, intent: str | None, *,
           at: float, status: Status = Status.ANSWERED) -> str:
    req = request(n, at=at)
    req.text = text
    store.requests.accept(req)
    if status is Status.ESCALATED:
        outcome = escalated(req, pending=False)
        outcome.intent = intent
    else:
        outcome = Outcome(req, route, status, answer="ok", intent=intent,
                          rule_id="r" if route is Route.RULE else None)
    store.requests.finish(outcome)
    return req.id


def reply(store: Storage, request_id: str, at: float, label: str | None) -> None:
    items = store.escalations
    item_id = items.of_request(request_id)
    assert item_id is not None and items.claim(item_id, "carol", at, at + 300)
    assert items.reply(items.get(item_id, at), "carol", at, "Here you go.", label)


def test_an_operators_label_beats_the_llm_which_beats_a_rule(backend: Storage):
    record(backend, 1, "Where is my refund?", Route.RULE, "refund_status", at=10)
    record(backend, 2, "where is my  REFUND?", Route.LLM, "refund_request", at=20)
    found = {ex.text: ex for ex in training_examples(backend.traffic)}
    assert found["where is my refund?"].intent == "refund_request"  # the LLM, not the rule
    assert found["where is my refund?"].source == "llm"
    # A later rule answer of the same text does not undo what the LLM said ...
    record(backend, 3, "where is my refund?", Route.RULE, "refund_status", at=30)
    assert {ex.text: ex.source for ex in training_examples(backend.traffic)} == {
        "where is my refund?": "llm"}
    # ... and an operator's label, on an older copy of the text, beats both.
    escalated_id = record(backend, 4, "Where is my refund?", Route.LLM, "refund_request",
                          at=5, status=Status.ESCALATED)
    reply(backend, escalated_id, 40, "refund_status")
    (example,) = training_examples(backend.traffic)
    assert (example.intent, example.source) == ("refund_status", "label")


def test_among_equals_the_newest_wins(backend: Storage):
    record(backend, 1, "cancel it", Route.LLM, "cancel_order", at=10)
    record(backend, 2, "cancel it", Route.LLM, "refund_request", at=20)
    (example,) = training_examples(backend.traffic)
    assert example.intent == "refund_request"


def test_what_nobody_vouched_for_is_left_out(backend: Storage):
    record(backend, 1, "escalated and never answered", Route.LLM, "refund_request", at=1,
           status=Status.ESCALATED)
    record(backend, 2, "from the cache", Route.CACHE_L1, "order_status", at=2)
    record(backend, 3, "the catch all", Route.LLM, "other", at=3)
    record(backend, 4, "the ladder's static answer", Route.STATIC, "contact", at=4)
    record(backend, 5, "an llm answer", Route.LLM, "billing", at=5)
    found = training_examples(backend.traffic, catch_all="other")
    assert [(ex.text, ex.intent) for ex in found] == [("an llm answer", "billing")]


def test_an_operators_reply_vouches_for_the_intent_and_a_label_for_the_catch_all(
        backend: Storage):
    replied = record(backend, 1, "my parcel is lost", Route.LLM, "order_status", at=1,
                     status=Status.ESCALATED)
    reply(backend, replied, 10, None)  # answered as it was: the intent stood
    other = record(backend, 2, "do you sell gift cards", Route.LLM, "other", at=2,
                   status=Status.ESCALATED)
    reply(backend, other, 11, "other")  # an operator says it is the catch-all: kept
    found = {ex.text: (ex.intent, ex.source)
             for ex in training_examples(backend.traffic, catch_all="other")}
    assert found == {"my parcel is lost": ("order_status", "resolution"),
                     "do you sell gift cards": ("other", "label")}


def test_the_limit_reads_the_newest_requests(backend: Storage):
    for i in range(10):
        record(backend, i, f"question {i}", Route.LLM, "technical", at=i)
    found = training_examples(backend.traffic, limit=3)
    assert [ex.text for ex in found] == ["question 9", "question 8", "question 7"]


def test_a_file_of_the_release_before_gains_the_versions_table(tmp_path):
    import sqlite3

    from agentcore.storage import SQLiteStorage

    path = tmp_path / "agent.sqlite"
    SQLiteStorage(path).close()
    with sqlite3.connect(path) as conn:  # as the release before this one left it
        conn.execute("DROP TABLE learned_models")
        conn.execute("PRAGMA user_version=4")
    conn.close()
    store = SQLiteStorage(path)
    try:
        assert store.learned.latest() is None
        assert store.learned.add(version(), b"m").id == 1
    finally:
        store.close()
