"""Takes the README's screenshot from the real app: `python -m console.screenshot`.

Starts the console offscreen on a fresh demo data folder (and a throwaway
window layout), runs demo traffic for a few seconds, sends one refund request
by hand so the detail shows parallel tool calls in its trace, then saves
`window.grab()` as a PNG. `--outage` points the LLM at a dead endpoint instead,
for the outage banner; `--outage-back` then heals it (a mock LLM on a loopback
port) and shows the banner saying so. `--tool-servers` opens the Settings dialog
on its Tool servers group, then a server's editor after a Test, and saves each
(`-settings`, `-editor`, `-editor-http` beside `--out`) with the window and its status bar.
`--intake` hosts the HTTP intake on a free loopback port and saves the Settings dialog
on its Intake API group (`--out`), then with an address beyond loopback and no token,
and a callback, refused (`-refused`), and the window with its Intake segment (`-window`).
`--attached URL` is an operator station on that PostgreSQL database (its password in
the keyring, as `agent-console --database` takes it): a service's engine answers some
of the demo traffic there first, the station opens on it (`--attach`), and its live
link to the database is reported lost, as its store follower reports it: the banner,
and the red status-bar segment.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QWidget

from agentcore import (
    REPO_ROOT,
    KeyringCredentials,
    Settings,
    ToolServerConfig,
    WritePolicy,
)
from console.app import (
    Console,
    build_console,
    load_settings,
    setup_logging,
)
from console.main_window import MainWindow
from console.theme import Theme
from console.tool_servers_model import Row
from console.workspaces import Workspace

SIZE = [1600, 1000]  # --size changes it
DEAD = "http://127.0.0.1:9/v1"  # the discard port: connections are refused


async def _after_traffic(console: Console, theme: Theme, rate: float,
                         seconds: float) -> MainWindow:
    """The window at screenshot size, after `seconds` of demo traffic at `rate`."""
    window = console.window
    window.set_theme(theme)
    window.resize(*SIZE)
    window.show()
    window.traffic_panel.rate.setValue(rate)
    window.traffic.start()
    await asyncio.sleep(seconds)
    return window


def _save(window: MainWindow, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        raise OSError(f"could not write {out}")
    print(f"saved {out} ({window.width()}x{window.height()})")
    window.close()


async def _stage_rules(console: Console, seconds: float, out: Path, theme: Theme) -> None:
    """The rules view mid-edit: a broadened pattern, its backtest, a sample tested."""
    window = await _after_traffic(console, theme, 60, seconds)
    window.traffic.pause()
    window.show_rules()
    view = window.rules
    view.refresh()
    shown = asyncio.Event()
    view.runner.finished.connect(lambda _result: shown.set())
    row = view.draft.index_of("contact-hours")
    view.table.selectRow(row)
    view.editor.pattern.setText(r"\b(?:hours|open)\b")  # as typed: it reaches the draft
    view.editor.sample.setPlainText("Are you open on Sunday? What are your hours?")
    await shown.wait()
    while view.runner.busy:  # the edit's own backtest, not the refresh's
        shown.clear()
        await shown.wait()
    view.backtest.tabs.setCurrentIndex(1)  # sample matches, disagreements first
    await asyncio.sleep(0.3)
    _save(window, out)


async def _stage_learned(console: Console, seconds: float, out: Path, theme: Theme) -> None:
    """The learned tier after demo traffic: a version running, a retrained candidate
    beside it at a lower threshold, its hold-out backtest and the wrong answers."""
    window = await _after_traffic(console, theme, 60, seconds)
    window.traffic.pause()
    window.show_learned()
    panel = window.learned
    await panel.train()
    panel.use_candidate()  # version 1 runs at the default threshold
    window.traffic.start()  # more traffic for the candidate to learn from
    await asyncio.sleep(seconds / 2)
    window.traffic.pause()
    await panel.train()
    panel.threshold.setValue(0.7)
    backtest = panel.backtest_threshold()  # at 0.70 now, not once the control rests
    if backtest is not None:
        await backtest
    panel.figures.setCurrentIndex(1)  # the wrong answers: what an operator judges it by
    await asyncio.sleep(0.3)
    _save(window, out)


async def _stage_escalations(console: Console, seconds: float, out: Path,
                             theme: Theme) -> None:
    """The queue after demo traffic, and a refund waiting for approval, claimed."""
    window = await _after_traffic(console, theme, 40, seconds)
    window.traffic.pause()
    queue, context = window.escalations, window.escalation
    loaded, shown = asyncio.Event(), asyncio.Event()
    queue.model.modelReset.connect(loaded.set)
    context.changed.connect(lambda _item: shown.set())
    window.show_workspace(Workspace.ESCALATIONS)  # in view: the queue loads its page
    await loaded.wait()
    waiting = next((i for i in queue.model.items if i.pending_action is not None), None)
    if waiting is not None:
        queue.select(waiting.id)
    else:
        queue.select_next()
    await shown.wait()
    await context.claim()
    await asyncio.sleep(0.5)
    _save(window, out)


async def _stage_audit(console: Console, seconds: float, out: Path, theme: Theme) -> None:
    """The Audit workspace after two operators worked the queue, the rules and the
    saved replies: this station's operator and "ben" at another."""
    from agentcore import RuleBook

    window = await _after_traffic(console, theme, 40, seconds)
    window.traffic.pause()
    engine, parts = console.engine, window.parts
    queue, me = engine.escalations, engine.settings.escalations.operator
    waiting = await queue.list(state="open")
    for n, item in enumerate(waiting[:6]):
        who = me if n % 2 == 0 else "ben"
        await queue.claim(item.id, who, lease_s=300)
        if item.pending_action is not None:
            await queue.deny(item.id, who, "asked the customer for the order number first")
        if n % 3 == 2:
            await queue.release(item.id, who)
        elif n % 3 == 1:
            await queue.resolve(item.id, who)
        else:
            await queue.reply(item.id, who, "Thanks for your patience: it is sorted now.")
    RuleBook(engine).apply(engine.router.rules[1:], author="ben")
    parts.saved_replies.add("Courier delay", "Sorry {first_name}, the courier is late.", me)
    window.show_workspace(Workspace.AUDIT)
    await asyncio.sleep(0.5)
    _save(window, out)


async def _stage_outage(console: Console, seconds: float, out: Path, theme: Theme, *,
                        heal: bool) -> None:
    """Demo traffic meeting a dead endpoint: the outage banner over the feed. With
    `heal`, a mock LLM then takes over and the banner says the endpoint is back."""
    window = await _after_traffic(console, theme, 20, seconds)
    window.traffic.pause()
    if heal:
        from agentcore import Request
        from agentcore.mock_llm import MockServer  # a dev tool: serves the mock on a port

        with MockServer() as server:
            healed = console.engine.settings.model_copy(deep=True)
            healed.llm.base_url = server.base_url
            await console.engine.apply_settings(healed)
            await asyncio.sleep(console.engine.settings.resilience.breaker.open_s)
            await console.engine.submit(Request("my app keeps crashing", customer_id=1))
            await asyncio.sleep(0.5)
            _save(window, out)
        return
    await asyncio.sleep(0.5)
    _save(window, out)


def _tool_servers() -> list[ToolServerConfig]:
    """The demo shop over stdio (or, on a tree without it, the tool-server tests' echo
    server) and a CRM over Streamable HTTP that is not there, its token in the keyring."""
    if importlib.util.find_spec("agentcore.demo_shop.mcp") is not None:
        first = ToolServerConfig(name="shop", command=sys.executable,
                                 args=["-m", "agentcore.demo_shop.mcp"], prefix="",
                                 replaces_domain_tools=True)
    else:
        echo = REPO_ROOT / "tests" / "agentcore" / "tool_servers" / "servers" / "echo_server.py"
        first = ToolServerConfig(name="echo", command=sys.executable, args=[str(echo)],
                                 kinds={"echo": "read", "env": "read"},
                                 writes={"slow": WritePolicy(limits={"seconds": {"max": 5}})})
    return [first, ToolServerConfig(
        name="crm", url="http://127.0.0.1:9/mcp", start_timeout_s=2,
        headers={"Authorization": "keyring:tool-server:crm:Authorization",
                 "X-Team": "support"})]


async def _stage_tool_servers(console: Console, seconds: float, out: Path,
                              theme: Theme) -> None:
    await console.engine.start()  # connects the servers (as the app does at start-up)
    window = await _after_traffic(console, theme, 5, seconds)
    window.traffic.pause()
    await asyncio.sleep(0.5)
    dialog = window.open_settings()
    dialog.resize(min(SIZE[0], 1024), min(SIZE[1], 700) - 40)
    await asyncio.sleep(0.3)
    dialog.show_tool_servers()
    dialog.tool_servers.table.selectRow(0)
    await asyncio.sleep(0.3)
    _grab(dialog, out.with_stem(out.stem + "-settings"))
    editor = dialog.tool_servers.open_editor(0)
    editor.resize(min(SIZE[0], 1024) - 60, min(SIZE[1], 700) - 60)
    editor.start_test()
    if editor.test.task is not None:
        await asyncio.gather(editor.test.task, return_exceptions=True)
    editor.table.selectRow(min(3, editor.tools.rowCount() - 1))
    await asyncio.sleep(0.3)
    _grab(editor, out.with_stem(out.stem + "-editor"))
    editor.reject()
    # The CRM over HTTP: its stored token, and a key typed in plain text, refused.
    editor = dialog.tool_servers.open_editor(1)
    editor.resize(min(SIZE[0], 1024) - 60, min(SIZE[1], 700) - 60)
    editor.headers.add(Row("X-Api-Key", "sk-live-not-here"))
    await asyncio.sleep(0.3)
    _grab(editor, out.with_stem(out.stem + "-editor-http"))
    editor.reject()
    dialog.reject()
    await asyncio.sleep(0.2)
    _save(window, out)


async def _stage_attached(console: Console, seconds: float, out: Path,
                          theme: Theme) -> None:
    """An attached station over the team's recent work, its live link lost."""
    from agentcore import DatabaseLink

    window = console.window
    window.set_theme(theme)
    window.resize(*SIZE)
    window.show()
    await asyncio.sleep(max(1.0, seconds / 4))  # the feed's and the charts' first reads
    console.engine.bus.publish(DatabaseLink(False, "server closed the connection "
                                                   "unexpectedly"))
    await asyncio.sleep(0.5)
    _save(window, out)


async def _serve_some(settings: Settings, count: int) -> None:
    """A service's engine (not the station's) answers `count` demo requests on the
    shared database: what the station then finds there."""
    from agentcore import Engine, to_request

    service = Engine(settings, credentials=KeyringCredentials())
    try:
        await asyncio.gather(*(service.submit(to_request(row))  # as the clients would
                               for row in service.domain.sample_requests()[:count]))
        service.store.flush()
    finally:
        await service.close()


async def _stage_intake(console: Console, seconds: float, out: Path, theme: Theme) -> None:
    window = await _after_traffic(console, theme, 5, seconds)
    await window.intake_host.apply(console.engine.settings.intake)
    window.intake_segment.refresh()
    window.traffic.pause()
    dialog = window.open_intake_settings()
    dialog.resize(min(SIZE[0], 1024), min(SIZE[1], 700) - 40)
    await asyncio.sleep(0.3)
    dialog.show_intake()
    await asyncio.sleep(0.3)
    _grab(dialog, out)
    dialog.intake.host_edit.setText("0.0.0.0")
    dialog.intake.add_callback("chatwoot", "https://desk.example/hooks/agent")
    dialog.show_intake()
    await asyncio.sleep(0.3)
    _grab(dialog, out.with_stem(out.stem + "-refused"))
    dialog.reject()
    await asyncio.sleep(0.2)
    _save(window, out.with_stem(out.stem + "-window"))


def _grab(widget: QWidget, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if not widget.grab().save(str(out)):
        raise OSError(f"could not write {out}")
    print(f"saved {out} ({widget.width()}x{widget.height()})")


async def _stage(console: Console, seconds: float, out: Path, theme: Theme) -> None:
    window = await _after_traffic(console, theme, 12, seconds)
    # A refund from the domain's own sample traffic: the slow path, with its tool calls.
    sample = next((r for r in console.window.traffic.rows
                   if r.get("expected_intent") == "refund_request" and r.get("customer_id")),
                  None)
    if sample is not None:
        window.compose.customer.setValue(int(sample["customer_id"]))
        window.compose.text.setPlainText(str(sample["text"]))
        task = window.compose.send()
        assert task is not None
        await task
        await asyncio.sleep(1.0)  # a few more rows, and a chart redraw
    window.compose.text.setPlainText("Can I change the delivery address of my last order?")
    _save(window, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshot.png")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rules", action="store_true",
                        help="show the rules view mid-edit instead of the feed")
    parser.add_argument("--learned", action="store_true",
                        help="show the learned tier with a candidate trained on demo traffic")
    parser.add_argument("--escalations", action="store_true",
                        help="show the escalation queue and a claimed refund instead")
    parser.add_argument("--audit", action="store_true",
                        help="the Audit workspace after two operators' actions")
    parser.add_argument("--size", default="1600x1000", metavar="WxH",
                        help="the window's size (the smallest supported is 1024x700)")
    parser.add_argument("--outage", action="store_true",
                        help="a dead LLM endpoint: the outage banner")
    parser.add_argument("--outage-back", action="store_true",
                        help="a dead LLM endpoint that heals: the banner saying it is back")
    parser.add_argument("--tool-servers", action="store_true",
                        help="the Settings dialog on its Tool servers group, a server's "
                        "editor after a Test, and the status bar's Tools segment")
    parser.add_argument("--intake", action="store_true",
                        help="the Settings dialog on its Intake API group, the intake "
                        "hosted on a free loopback port")
    parser.add_argument("--attached", default=None, metavar="POSTGRESQL_URL",
                        help="an attached operator station on this database, its live "
                        "link to it lost")
    parser.add_argument("--theme", choices=[t.value for t in Theme], default=Theme.DARK.value)
    parser.add_argument("--domain", default=None, metavar="MODULE:FACTORY",
                        help="another domain than the demo shop")
    args = parser.parse_args(argv)
    SIZE[:] = [int(n) for n in args.size.lower().split("x")]
    setup_logging("WARNING")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings: Settings = load_settings(folder / "settings.json", folder / "data",
                                           args.domain)
        if args.outage or args.outage_back:
            settings.llm.base_url = DEAD
            settings.resilience.retry.max_attempts = 1
            settings.resilience.breaker.open_s = 1.0
        if args.tool_servers:
            settings.tool_servers = _tool_servers()
        if args.intake:
            settings.intake.enabled = True
            settings.intake.port = 0  # any free one: the group shows which
        if args.attached:
            settings.database_url = args.attached
            loop.run_until_complete(_serve_some(settings, 60))
        store = QSettings(str(folder / "window.ini"), QSettings.Format.IniFormat)
        console = build_console(settings, store=store, settings_path=folder / "settings.json",
                                credentials=KeyringCredentials(),
                                rows=None, attach_to="" if args.attached else None)

        async def run() -> None:
            try:
                if args.outage or args.outage_back:
                    await _stage_outage(console, args.seconds, args.out, Theme(args.theme),
                                        heal=args.outage_back)
                    return
                stage = (_stage_attached if args.attached
                         else _stage_tool_servers if args.tool_servers
                         else _stage_intake if args.intake
                         else _stage_learned if args.learned
                         else _stage_rules if args.rules
                         else _stage_escalations if args.escalations
                         else _stage_audit if args.audit else _stage)
                await stage(console, args.seconds, args.out, Theme(args.theme))
            finally:
                await console.shutdown()

        loop.run_until_complete(run())
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
