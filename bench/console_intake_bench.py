"""The console hosting the intake under load: `python -m bench.console_intake_bench
[--seconds 30]` (CONSOLE_INTAKE_BENCH_S too, as `make bench` reads it).

The real window, offscreen, its engine on the qasync loop, hosting the HTTP intake
as Settings > Intake API does (IntakeHost, port 0; the mock LLM at 0 ms, the shipped
stages; the guard's and the client's rate limits lifted, which the corpus's reused
customers would trip). Its own traffic generator is off: the traffic is the intake's,
200 requests/s offered open loop from another process (bench/intake_load.py).

Event-loop lag: a 10 ms precise QTimer on the GUI thread, each tick's lateness past
its interval (what an operator feels as a frozen window), over the load's time after
a 2 s warm-up. Lost: accepted request ids not finished in the engine database once
the console shut down (which lets in-flight requests finish).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from bench.intake_bench import lost
from bench.intake_load import Step, in_flight, load, percentile
from bench.sections import write_stamped

REPO = Path(__file__).resolve().parent.parent
RATE = 200.0
TICK_MS = 10
WARM_S = 2.0
GOAL_P99_MS = 50.0
Row = tuple[str, str, str]


class LagProbe:
    """A QTimer every TICK_MS on the GUI thread; each tick's lateness, with its wall time."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.ticks: list[tuple[float, float]] = []
        self._last = 0.0
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start(TICK_MS)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.ticks.append((time.time(), max(0.0, (now - self._last) * 1000 - TICK_MS)))
        self._last = now

    def lags(self, since: float, until: float) -> list[float]:
        return [lag for at, lag in self.ticks if since <= at <= until]


def measure(seconds: float, *, intake: bool) -> tuple[Step, list[float], int]:
    """`intake`: the traffic through the hosted intake from another process; else the
    console's own traffic generator at the same rate (the console bench's load), for
    the lag the intake adds."""
    import keyring
    import qasync
    from keyring.backends import fail
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from agentcore import IntakeSettings, KeyringCredentials
    from agentcore.replay import load_corpus
    from agentcore.settings import LLMSettings
    from bench.workloads import bench_settings, fresh_data_dir
    from console.app import GuiThreadCollector, build_console, freeze_startup_heap

    keyring.set_keyring(fail.Keyring())  # on loopback the intake needs no token
    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    settings = bench_settings(fresh_data_dir())
    settings.llm.classify = LLMSettings().classify  # both stages, as shipped
    settings.intake = IntakeSettings(enabled=True, port=0, client_rate_per_minute=10**8,
                                     shutdown_grace_s=60)
    folder = Path(tempfile.mkdtemp(prefix="bench-console-intake-"))
    store = QSettings(str(folder / "window.ini"), QSettings.Format.IniFormat)
    console = build_console(settings, store=store, settings_path=folder / "settings.json",
                            credentials=KeyringCredentials(),
                            rows=load_corpus(REPO / "data" / "requests.jsonl"))
    window = console.window
    window.resize(1400, 900)
    window.show()
    freeze_startup_heap()  # as `python -m console` does, with its collector
    collector = GuiThreadCollector()
    probe = LagProbe()

    async def by_intake() -> tuple[Step, list[float]]:
        await window.intake_host.apply(settings.intake)
        url = window.intake_host.url
        if url is None:
            raise RuntimeError(f"the console's intake did not start: {window.intake_host.error}")
        window.intake_segment.refresh()
        out = folder / "step.json"
        probe.start()
        client = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.intake_load", url, "--rate", str(RATE),
            "--seconds", str(WARM_S + seconds), "--out", str(out), cwd=REPO)
        try:
            await asyncio.wait_for(client.wait(), WARM_S + seconds + 120)
        finally:
            if client.returncode is None:
                client.kill()
        probe.timer.stop()
        if client.returncode != 0:
            raise RuntimeError(f"the load generator failed ({client.returncode})")
        step = load(out)
        step.backlog = await in_flight(url)  # the engine still working: it fell behind
        since = step.started_at + WARM_S
        return step, probe.lags(since, since + seconds)

    async def by_traffic() -> tuple[Step, list[float]]:
        window.traffic_panel.rate.setValue(RATE)
        probe.start()
        started = time.time()
        window.traffic.start()
        await asyncio.sleep(WARM_S)
        submitted = window.traffic.submitted
        await asyncio.sleep(seconds)
        step = Step(rate=RATE, seconds=seconds, sent=window.traffic.submitted - submitted)
        probe.timer.stop()
        return step, probe.lags(started + WARM_S, started + WARM_S + seconds)

    async def run() -> tuple[Step, list[float]]:
        try:
            return await (by_intake() if intake else by_traffic())
        finally:
            await console.shutdown()  # in-flight requests finish, outcomes flushed
            collector.stop()

    with loop:
        step, lags = loop.run_until_complete(run())
    with contextlib.suppress(Exception):
        window.deleteLater()
    return step, lags, lost(settings.engine_db, step.ids)


def _lag(lags: list[float]) -> str:
    return (f"{percentile(lags, 50):.1f} / {percentile(lags, 99):.1f} / "
            f"{percentile(lags, 100):.1f} ms ({len(lags)} ticks)")


def run(rows: list[Row], seconds: float | None = None) -> None:
    seconds = seconds or float(os.environ.get("CONSOLE_INTAKE_BENCH_S", "30"))
    own, own_lags, _ = measure(seconds, intake=False)
    step, lags, missing = measure(seconds, intake=True)
    rows += [
        (f"console hosting the intake, {RATE:.0f} req/s offered from another process for "
         f"{seconds:g} s: GUI event-loop lag ({TICK_MS} ms QTimer) p50 / p99 / max",
         _lag(lags), f"target p99 <= {GOAL_P99_MS:.0f} ms; the console's own traffic "
         f"generator at the same rate: {_lag(own_lags)}"),
        (f"the same: answered a second, accept latency p50 / p99 (warm-up {WARM_S:g} s "
         "included)", f"{step.achieved:.0f} req/s, {step.p(50):.1f} / {step.p(99):.1f} ms",
         f"{step.verdict()}; the own traffic generator submitted {own.sent / seconds:.0f} "
         "req/s"),
        ("the same: accepted (202, or the guard's 422), lost (not finished on disk after "
         "the console's shutdown)", f"{len(step.ids)}, {missing}",
         f"{step.errors} errors, {step.unsent} unsent; load generator send lag p99 "
         f"{step.client_late_p99_ms:.1f} ms"),
    ]


def write_section(results: list[Row]) -> str:
    return write_stamped("Console hosting the intake (bench/console_intake_bench.py)",
                         "the load generator in its own process on the same two cores; "
                         "the console's own traffic generator at the same rate, measured "
                         "alongside, is the yardstick", results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=None,
                        help="the load's time after the warm-up (default 30)")
    args = parser.parse_args()
    rows: list[Row] = []
    run(rows, args.seconds)
    print(write_section(rows))
