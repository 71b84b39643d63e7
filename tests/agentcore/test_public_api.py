"""The public surface is deliberate, and importing the core stays light and Qt-free."""

from __future__ import annotations

import subprocess
import sys
import types

import agentcore


def test_exports_exactly_the_intended_names():
    exported = {name for name, value in vars(agentcore).items()
                if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert sorted(agentcore.__all__) == sorted(exported)
    assert {"Engine", "Request", "Outcome", "Settings", "Rule", "Metrics"} <= exported
    # Rule tuning: versions with undo, backtests on recorded traffic, suggestions.
    assert {"RuleBook", "RuleVersion", "Backtester", "BacktestResult", "load_recorded",
            "suggest_rules", "Suggestion", "RejectedSuggestions"} <= exported
    # The learned tier: train off the GUI thread, backtest on a hold-out, versions.
    assert {"LearnedTier", "TierVersion", "IntentModel", "Prediction", "Example", "train",
            "training_examples", "backtest_holdout", "TierBacktest", "CurvePoint",
            "IntentCounts", "WrongAnswer", "LearnedModelError", "LearnedSettings"} <= exported
    for name in agentcore.__all__:
        assert getattr(agentcore, name) is not None


def test_importing_the_core_loads_no_qt_and_defers_the_openai_sdk():
    # scikit-learn (a second to import) and numpy only once the learned tier trains or
    # loads a model: the console's cold start pays for neither. Nor for the intake's HTTP
    # server, its metrics or the OpenTelemetry SDK until they serve.
    code = ("import sys, agentcore; "
            "print(sorted(m for m in ('PySide6', 'qasync', 'pyqtgraph', 'console', 'openai',"
             " 'sklearn', 'numpy', 'scipy', 'mcp', 'mcp_types', 'jsonschema', 'aiohttp',"
             " 'prometheus_client', 'opentelemetry.sdk')"
             " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
