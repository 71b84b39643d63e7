"""One exception tree: a caller finds every exception agentcore raises in `agentcore.errors`."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import agentcore
import agentcore.errors as errors

INTENDED = {
    "AgentError", "UserFacingError", "SettingsError", "RuleError", "EmptyRuleSetError",
    "DuplicateRequest", "QueueError", "StorageError", "LLMError", "BreakerOpenError",
    "ThrottledError", "MalformedOutput", "ToolError", "RecordNotFound", "WriteRefused",
    "ToolArgumentsError", "UnknownToolError", "NoDeterministicAnswer", "NeedsCustomer",
    "BacktestCancelled",
}


def _agentcore_modules() -> list[str]:
    # `__main__` runs the CLI when imported; every other module must import cleanly.
    return [info.name for info in pkgutil.walk_packages(agentcore.__path__, "agentcore.")
            if not info.name.endswith(".__main__")]


def test_errors_exports_exactly_the_exception_tree():
    exceptions = {name for name, value in vars(errors).items()
                  if inspect.isclass(value) and issubclass(value, BaseException)}
    assert exceptions == INTENDED
    assert sorted(errors.__all__) == sorted(INTENDED)
    assert all(issubclass(getattr(errors, name), errors.AgentError) for name in INTENDED)


def test_every_public_exception_of_agentcore_is_defined_in_errors():
    modules = _agentcore_modules()
    assert len(modules) > 40  # the walk reached the subpackages, not just the top
    elsewhere = []
    for name in modules:
        if name == "agentcore.errors":
            continue
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, Exception)
                    and value.__module__ == name and not attr.startswith("_")):
                elsewhere.append(f"{name}.{attr}")
    assert elsewhere == []
