"""A corpus with bad lines in it: each is named with its number and reason and
skipped, the rest is replayed, and the exit code says not everything was."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from agentcore.cli import main
from agentcore.models import Status
from agentcore.replay import load_corpus, read_corpus, replay


def write_lines(path: Path, lines: list[str | bytes]) -> Path:
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n"
                              for x in lines))
    return path


def test_each_bad_line_is_named_with_its_number_and_reason_and_the_rest_is_kept(tmp_path):
    corpus = read_corpus(write_lines(tmp_path / "data.jsonl", [
        '{"text": "where is my order?", "customer_id": 7}',
        "[1, 2]",
        '"text"',
        "42",
        "",
        "null",
        "true",
        '{"text": "refund policy?", "channel": "email"',
        '{"text": "hi", "channel": 5}',
        b'{"text": "caf\xe9"}',  # Latin-1, not UTF-8
        "[" * 100_000,
        '{"text": "refund policy?", "channel": "email"}',
    ]))
    assert corpus.rows == [{"text": "where is my order?", "customer_id": 7},
                           {"text": "refund policy?", "channel": "email"}]
    path = tmp_path / "data.jsonl"
    assert corpus.reports() == [
        f"{path}:2: not a JSON object (a list)",
        f"{path}:3: not a JSON object (a string)",
        f"{path}:4: not a JSON object (a number)",
        f"{path}:6: not a JSON object (null)",  # the blank line 5 is no error
        f"{path}:7: not a JSON object (true)",
        f"{path}:8: not JSON (Expecting ',' delimiter at column 46)",
        f"{path}:9: channel is not a string (a number)",
        f"{path}:10: not UTF-8 text (byte 14)",
        f"{path}:11: not JSON this program can read (nested too deeply)",
    ]


def test_a_byte_order_mark_from_an_editor_is_not_a_bad_line(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes('\ufeff{"text": "hello"}\n'.encode())
    corpus = read_corpus(path)
    assert corpus.rows == [{"text": "hello"}] and corpus.bad_lines == []


def test_a_limit_stops_reading_after_that_many_requests(tmp_path):
    path = write_lines(tmp_path / "data.jsonl",
                       ['{"text": "a"}', "[]", '{"text": "b"}', "[]", '{"text": "c"}'])
    corpus = read_corpus(path, limit=2)
    assert corpus.rows == [{"text": "a"}, {"text": "b"}]
    assert [bad.number for bad in corpus.bad_lines] == [2]  # line 4 was never reached


async def test_text_and_customer_ids_of_the_wrong_type_are_turned_away_by_the_guard(
        tmp_path, settings):
    """Left to the guard, as the same request arriving live would be: rejected with
    its reason, and on disk."""
    from agentcore.engine import Engine

    corpus = read_corpus(write_lines(tmp_path / "data.jsonl", [
        '{"text": 42, "customer_id": 7}',
        '{"text": "where is my order?", "customer_id": "7"}',
        '{"text": "where is my order?", "customer_id": 7.5}',
    ]))
    assert corpus.bad_lines == []
    engine = Engine(settings)
    try:
        outcomes, _ = await replay(engine, corpus.rows, progress=False)
        stored = engine.store.requests.counts()
    finally:
        await engine.close()
    assert [o.status for o in outcomes] == [Status.REJECTED] * 3
    assert [o.errors for o in outcomes] == [["rejected: not text"],
                                            ["rejected: invalid customer"],
                                            ["rejected: invalid customer"]]
    assert stored == {"rejected": 3}


def test_the_console_gets_the_good_rows_and_a_warning_per_bad_line(tmp_path, caplog):
    path = write_lines(tmp_path / "data.jsonl", ['{"text": "a"}', "{oops", '{"text": "b"}'])
    with caplog.at_level(logging.WARNING, logger="agentcore.replay"):
        rows = load_corpus(path)
    assert rows == [{"text": "a"}, {"text": "b"}]
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}:2: not JSON (Expecting property name enclosed in double quotes at column 2)"
        "; skipped"]


def test_an_empty_corpus_is_a_clear_message_and_a_failure(tmp_path, capsys):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    assert main(["--data-dir", str(tmp_path / "data"), "replay", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == f"nothing to replay: {path} holds no requests\n"
    assert not (tmp_path / "data").exists()  # no engine was started for nothing


def test_a_corpus_of_only_bad_lines_names_them_and_fails(tmp_path, capsys):
    path = write_lines(tmp_path / "bad.jsonl", [json.dumps([1, 2]), "null"])
    assert main(["--data-dir", str(tmp_path / "data"), "replay", str(path)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{path}:1: not a JSON object (a list)",
        f"{path}:2: not a JSON object (null)",
        f"nothing to replay: {path} holds no requests, only 2 bad lines"]
