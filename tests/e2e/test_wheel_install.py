"""A wheel install works without the repository beside it: the package is built
into a wheel, installed into a fresh venv away from the source tree, and answers
a request with `agentcore ask` from the demo shop's own packaged resources.

The fresh venv gets the project's dependencies from the test's own environment
(a .pth line naming its site-packages): the wheel is what is under test, and
only it provides `agentcore`. Building it needs setuptools from the package
registry, as any `pip install .` does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with only the wheel installed in it; returns its bin folder."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a copy: building writes build/ and *.egg-info beside it
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for package in ("agentcore", "console"):
        shutil.copytree(REPO / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheels = root / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    str(source), "-w", str(wheels)], check=True, timeout=300)
    [wheel] = wheels.glob("*.whl")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--quiet", "--no-deps", str(wheel)], check=True, timeout=300)
    purelib = subprocess.run([str(python), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ours = sysconfig.get_paths()
    (Path(purelib) / "dependencies.pth").write_text(
        "\n".join(dict.fromkeys([ours["purelib"], ours["platlib"]])) + "\n")
    return env_dir / "bin"


def run(bin_dir: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"XDG_DATA_HOME": str(tmp_path / "xdg"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    return subprocess.run([str(bin_dir / args[0]), *args[1:]], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=180)


def test_the_wheel_ships_the_demo_shops_resources_and_entry_point(installed, tmp_path):
    found = run(installed, tmp_path, "python", "-c",
                "import agentcore.demo_shop.domain as d, json; "
                "print(json.dumps([d.__file__, sorted(p.name for p in d.RESOURCES.rglob('*'))]))")
    assert found.returncode == 0, found.stderr
    where, files = json.loads(found.stdout)
    assert str(installed.parent) in where  # the wheel's copy, not the repository's
    assert {"rules.yaml", "static_answers.yaml", "classify.txt", "decide.txt"} <= set(files)
    listed = run(installed, tmp_path, "agentcore", "domains")
    assert listed.stdout.split() == ["demo_shop", "agentcore.demo_shop:create"], listed.stderr


def test_an_installed_agent_answers_a_request(installed, tmp_path):
    asked = run(installed, tmp_path, "agentcore", "--data-dir", str(tmp_path / "data"),
                "ask", "what is your refund policy?")
    assert asked.returncode == 0, asked.stderr
    outcome = json.loads(asked.stdout)
    assert (outcome["route"], outcome["status"], outcome["intent"]) == (
        "rule", "answered", "refund_policy")
    assert "Refund windows are counted from the delivery date" in outcome["answer"]
    slow = run(installed, tmp_path, "agentcore", "--data-dir", str(tmp_path / "data"),
               "ask", "my app keeps crashing and nothing helps", "--customer", "7")
    assert slow.returncode == 0, slow.stderr
    assert json.loads(slow.stdout)["route"] == "llm"  # the packaged prompts reached the mock
