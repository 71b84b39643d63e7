"""`agentcore tools`: what the agent would offer, over real tool servers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agentcore.cli import main
from tests.agentcore.tool_servers.conftest import HANG, SERVERS

DESK = SERVERS / "desk_server.py"
REPO = Path(__file__).resolve().parents[3]


def settings_file(tmp_path: Path, *servers: dict) -> Path:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"tool_servers": list(servers)}))
    return path


def desk(**overrides) -> dict:
    return {"name": "desk", "command": sys.executable, "args": [str(DESK)], **overrides}


def test_tools_json_lists_the_domains_and_a_stdio_servers_tools(tmp_path, settings):
    path = settings_file(tmp_path, desk(writes={"refund": {"limits": {"amount": {"max": 50}}}}))
    done = subprocess.run([sys.executable, "-m", "agentcore", "--settings", str(path),
                           "--data-dir", str(settings.data_dir), "tools", "--json"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    tools = {t["name"]: t for t in out["tools"]}
    assert tools["get_order"]["source"] == "domain"
    assert (tools["desk__search"]["source"], tools["desk__search"]["kind"]) == ("desk", "read")
    assert tools["desk__search"]["kind_from"] == "annotations"
    assert tools["desk__note"]["kind"] == "write"
    assert tools["desk__note"]["kind_from"] == "unknown: a write"
    assert tools["desk__note"]["policy"] is None  # an operator approves each call
    assert "amount <= 50" in tools["desk__refund"]["policy"]
    assert tools["desk__tangled"]["offered"] is False and tools["desk__tangled"]["problems"]
    (server,) = out["servers"]
    assert (server["name"], server["state"], server["transport"]) == ("desk", "ready", "stdio")


def test_tools_exits_1_naming_a_server_that_did_not_start(tmp_path, settings, capsys):
    hang = {"name": "hang", "command": sys.executable, "args": [str(HANG)],
            "start_timeout_s": 1.0}
    path = settings_file(tmp_path, hang, desk())
    code = main(["--settings", str(path), "--data-dir", str(settings.data_dir), "tools"])
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    assert any(line.startswith("server hang (stdio) failed: ") for line in lines)
    search = next(line for line in lines if line.startswith("desk__search\t"))
    assert search.split("\t")[1:4] == ["desk", "read", "-"]
    note = next(line for line in lines if line.startswith("desk__note\t"))
    assert note.split("\t")[2:4] == ["write", "asks"]
    tangled = next(line for line in lines if line.startswith("desk__tangled\t"))
    assert "NOT OFFERED" in tangled
    assert any(line.startswith("get_order\tdomain\tread") for line in lines)
