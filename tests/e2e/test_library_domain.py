"""The second domain end to end: a library's loans, run by the unchanged CLI.

`agentcore --domain library_loans:create` answers a loan's status on the fast
path, takes what the rules don't know to the librarian model (a loopback
endpoint speaking the library's tools), escalates a fine waiver above the
limit with the limit ready to approve, replays recorded library traffic, and
a backtest reads that traffic. Two stations approving the same waiver at once,
as two processes, waive it once.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.keyring_backend import FileKeyring
from tests.librarian_llm import Librarian, librarian_llm

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "library_loans"
DOMAIN = "library_loans:create"
MEMBER = 1
ON_TIME, TOO_LATE, SMALL_FINE = 1001, 1031, 1021  # member 1's loans in the seed data


@pytest.fixture
def librarian():
    with librarian_llm() as served:
        yield served


def child_env(tmp_path: Path) -> dict[str, str]:
    """The child's keyring (a file in the test's folder) and the example on its path."""
    backend = FileKeyring(tmp_path / "keyring.json")
    path = os.pathsep.join(p for p in (str(EXAMPLE), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, XDG_DATA_HOME=str(tmp_path / "xdg"), PYTHONPATH=path,
                **backend.child_env())


def agentcore(tmp_path: Path, librarian: Librarian, *args: str
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentcore", "--data-dir", str(tmp_path / "data"),
         "--base-url", librarian.base_url, "--domain", DOMAIN, *args],
        capture_output=True, text=True, cwd=REPO, env=child_env(tmp_path), timeout=120)


def ask(tmp_path: Path, librarian: Librarian, text: str,
        customer: int | None = MEMBER) -> dict[str, Any]:
    who = ["--customer", str(customer)] if customer is not None else []
    result = agentcore(tmp_path, librarian, "ask", text, *who)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def waivers(tmp_path: Path) -> list[tuple[str, int, int]]:
    with sqlite3.connect(tmp_path / "data" / "library.sqlite") as conn:
        return conn.execute("SELECT request_id, loan_id, amount_cents FROM waivers"
                            " ORDER BY id").fetchall()


def library_settings(tmp_path: Path, librarian: Librarian):
    from agentcore import Settings

    settings = Settings(data_dir=tmp_path / "data", domain=DOMAIN)
    settings.llm.base_url = librarian.base_url
    return settings


async def escalations(settings) -> list[Any]:
    from agentcore import Engine

    engine = Engine(settings)
    try:
        return [await engine.escalations.get(item.id)
                for item in await engine.escalations.list()]
    finally:
        await engine.close()


def test_a_loan_status_and_the_opening_hours_are_rule_answers(tmp_path, librarian):
    status = ask(tmp_path, librarian, "When is loan 1001 due?")
    assert (status["route"], status["status"], status["intent"]) == (
        "rule", "answered", "loan_status")
    assert status["answer"] == ("Loan 1001 (The Name of the Rose) is due back on 2026-03-12. "
                                "It can be renewed 2 more times.")
    hours = ask(tmp_path, librarian, "What are your opening hours?", customer=None)
    assert hours["route"] == "rule" and "Saturday 10:00-16:00" in hours["answer"]
    # Nobody signed in: the library's own words for it, and no loan read.
    anonymous = ask(tmp_path, librarian, "When is loan 1001 due?", customer=None)
    assert anonymous["answer"].startswith("I can help with that once I know it's you")
    assert librarian.calls == []  # the fast path asked no model


def test_what_the_rules_dont_know_is_looked_up_with_get_loan(tmp_path, librarian):
    outcome = ask(tmp_path, librarian, "I'm away this week: what do I owe on loan 1031?")
    assert (outcome["route"], outcome["status"]) == ("llm", "answered"), outcome["errors"]
    assert "tool:get_loan" in [span["name"] for span in outcome["spans"]]
    assert "due on 2026-02-10" in outcome["answer"] and "$6.00" in outcome["answer"]
    # Offered the library's tools, and nothing of the shop's.
    assert librarian.tool_names_offered() == {"get_loan", "renew_loan", "waive_fine"}
    assert "loans desk of a public library" in json.dumps(librarian.calls[-1]["messages"])


def test_a_waiver_above_the_limit_waits_for_a_librarian_with_the_limit_offered(
        tmp_path, librarian):
    outcome = ask(tmp_path, librarian, "Please waive the $6.00 fine on loan 1031")
    assert (outcome["status"], outcome["escalation"]) == ("escalated", "policy violation")
    assert waivers(tmp_path) == []  # refused at the write: nothing waived
    [item] = asyncio.run(escalations(library_settings(tmp_path, librarian)))
    pending = item.pending_action
    assert pending.tool == "waive_fine"
    assert pending.arguments == {"loan_id": TOO_LATE, "amount": 5.0}  # the limit, not the $6
    assert pending.requested == {"loan_id": TOO_LATE, "amount": 6.0}
    assert item.limits.figure("Owed") == 600 and item.limits.allowed_cents == 500


CORPUS = [
    {"text": "When is loan 1001 due?", "customer_id": MEMBER},  # a rule
    {"text": "What are your opening hours?", "customer_id": None},  # a rule, anonymous
    {"text": "Can you renew loan 1001 for me?", "customer_id": MEMBER},  # the LLM renews
    {"text": "Please waive the $1.50 fine on loan 1021", "customer_id": MEMBER},  # waived
    {"text": "Please waive the $6.00 fine on loan 1031", "customer_id": MEMBER},  # escalated
    {"text": "Renew loan 1031 please", "customer_id": MEMBER},  # too late: refused
    {"text": "How do I renew a book?", "customer_id": 2},  # the LLM, no loan named
    {"text": "When is loan 1001 due?", "customer_id": MEMBER},  # after the renewal
    {"text": "when do you open on saturday?", "customer_id": 3},  # a rule
]


def replayed(tmp_path: Path, librarian: Librarian) -> subprocess.CompletedProcess[str]:
    corpus = tmp_path / "library.jsonl"
    corpus.write_text("".join(json.dumps(row) + "\n" for row in CORPUS), encoding="utf-8")
    return agentcore(tmp_path, librarian, "replay", str(corpus), "--concurrency", "1",
                     "--quiet")


def test_a_replay_of_library_traffic_acts_within_the_policy_and_a_backtest_reads_it(
        tmp_path, librarian):
    result = replayed(tmp_path, librarian)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"replayed {len(CORPUS)} of {len(CORPUS)} requests" in result.stdout
    with sqlite3.connect(tmp_path / "data" / "agent.sqlite") as db:
        answers = db.execute("SELECT r.text, o.route, o.status, o.answer FROM requests r"
                             " JOIN outcomes o ON o.request_id = r.id"
                             " ORDER BY r.received_at").fetchall()
    routes = [(route, status) for _, route, status, _ in answers]
    assert routes == [("rule", "answered"), ("rule", "answered"), ("llm", "answered"),
                      ("llm", "answered"), ("llm", "escalated"), ("llm", "escalated"),
                      ("llm", "answered"), ("rule", "answered"), ("rule", "answered")]
    # The renewal changed the loan: its cached status was dropped, the rule read it anew.
    assert "due back on 2026-03-26" in answers[7][3] and "1 more time" in answers[7][3]
    assert [(loan, cents) for _, loan, cents in waivers(tmp_path)] == [(SMALL_FINE, 150)]
    with sqlite3.connect(tmp_path / "data" / "library.sqlite") as conn:
        assert conn.execute("SELECT renewals_left, due_on FROM loans WHERE id = ?",
                            (TOO_LATE,)).fetchone() == (2, "2026-02-10")  # not renewed

    # A backtest of an edited rule set over what was recorded: the opening-hours rule
    # switched off loses its two requests to the slow path.
    from agentcore.backtest import Backtester, load_recorded
    from agentcore.domain import load_domain
    from agentcore.router import Router, Rule

    settings = library_settings(tmp_path, librarian)
    domain = load_domain(settings)
    try:
        data = yaml.safe_load((domain.resources / "rules.yaml").read_text(encoding="utf-8"))
        rules = [Rule.from_dict(r) for r in data["rules"]]
        edited = [replace(r, enabled=False) if r.id == "opening-hours" else r for r in rules]
        live = Router(rules, domain.handlers, fragments=data["fragments"])
        after = Router(edited, domain.handlers, fragments=data["fragments"])
        backtest = Backtester(load_recorded(settings.engine_db)).run(live, after)
    finally:
        domain.close()
    assert backtest.total == len(CORPUS)
    assert (backtest.fast_before, backtest.fast_after) == (4, 2)
    assert sorted(c.request.text for c in backtest.lost) == [
        "What are your opening hours?", "when do you open on saturday?"]
    assert backtest.gained == []


def test_two_stations_approving_one_waiver_at_once_waive_it_once(tmp_path, librarian):
    ask(tmp_path, librarian, "Please waive the $6.00 fine on loan 1031")
    [item] = asyncio.run(escalations(library_settings(tmp_path, librarian)))
    start = str(time.time() + 3.0)  # both are up by then
    children = [subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.library_approver", str(tmp_path / "data"),
         librarian.base_url, start, "alice", str(item.id)],
        cwd=REPO, env=child_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True) for _ in range(2)]
    seen = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-3000:]
        seen.append(json.loads(out.strip().splitlines()[-1]))
    assert sum(worker["done"] for worker in seen) == 1, seen
    assert [(loan, cents) for _, loan, cents in waivers(tmp_path)] == [(TOO_LATE, 500)]
    assert waivers(tmp_path)[0][0] == item.request_id  # keyed by the original request
