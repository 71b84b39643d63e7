"""`agentcore learned`, as an operator runs it: its own process, on an engine database
that holds the shipped corpus answered once (the recorded traffic it learns from)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agentcore.learned import MIN_PER_INTENT

REPO = Path(__file__).resolve().parents[2]


def learned(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_DATA_HOME=str(data_dir.parent / "xdg"),
               XDG_CONFIG_HOME=str(data_dir.parent / "config"))
    return subprocess.run([sys.executable, "-m", "agentcore", "--data-dir", str(data_dir),
                           "learned", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=300)


def as_json(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_train_backtests_on_a_hold_out_and_saves_a_version_switched_off(recorded):
    data = recorded.data_dir
    status = learned(data, "status")
    assert status.returncode == 0 and "no model yet" in status.stdout

    first = as_json(learned(data, "train", "--json", "--operator", "alice"))
    version, result = first["version"], first["backtest"]
    assert (version["action"], version["enabled"], version["operator"]) == (
        "train", False, "alice")
    assert version["threshold"] == 0.9  # the settings' default
    assert result["method"].startswith("hold-out")
    # Every example is judged; those of an intent too rare to train on (fewer than
    # MIN_PER_INTENT) are in the total, never answered, and not among the model's.
    rare = sum(c["total"] for c in result["per_intent"] if c["total"] < MIN_PER_INTENT)
    assert result["total"] == version["examples"] + rare and version["examples"] > 300
    assert result["coverage"] > 0.3 and result["precision"] > 0.95
    assert [p["threshold"] for p in result["curve"]][:2] == [0.5, 0.6]
    assert version["backtest"] == result  # the version keeps what it was judged by

    second = as_json(learned(data, "train", "--enable", "--threshold", "0.8", "--json"))
    assert second["version"]["enabled"] and second["version"]["threshold"] == 0.8
    assert as_json(learned(data, "status", "--json"))["version"]["id"] == second["version"]["id"]

    undone = as_json(learned(data, "undo", "--json"))["version"]
    assert (undone["action"], undone["restores"], undone["enabled"]) == (
        "undo", version["id"], False)
    shown = learned(data, "status")
    assert f"version {undone['id']} (undo by" in shown.stdout and ", off," in shown.stdout


def test_backtest_reports_the_threshold_it_was_asked_and_the_curve(recorded):
    result = learned(recorded.data_dir, "backtest", "--threshold", "0.95")
    assert result.returncode == 0, result.stderr
    first, header, *curve = result.stdout.splitlines()
    assert first.startswith("backtest at 0.95: answers ") and "(hold-out, 5 folds)" in first
    assert header.split() == ["threshold", "answered", "coverage", "precision"]
    assert [line.split()[0] for line in curve[:3]] == ["0.50", "0.60", "0.70"]


def test_with_no_traffic_train_refuses_in_words_and_undo_has_nothing_to_undo(settings):
    result = learned(settings.data_dir, "train")
    assert result.returncode == 2
    assert "at least 30 labelled requests" in result.stderr and "has 0" in result.stderr
    result = learned(settings.data_dir, "undo")
    assert result.returncode == 2 and "nothing to undo" in result.stderr
    assert learned(settings.data_dir, "train", "--threshold", "1.5").returncode == 2
