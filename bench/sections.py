"""A bench part run alone writes its own section of bench/RESULTS.md, replacing the
one an earlier run wrote there."""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def table(rows: list[tuple[str, str, str]]) -> list[str]:
    return ["| measure | result | against |", "|---|---|---|",
            *(f"| {a} | {b} | {c} |" for a, b, c in rows)]


def replace_section(heading: str, lines: list[str]) -> str:
    """Writes `## heading` and `lines` at the end of RESULTS.md, any earlier section of
    that heading removed; returns the section."""
    section = "\n".join([f"## {heading}", "", *lines]) + "\n"
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    text = re.sub(rf"## {re.escape(heading)}.*?(?=\n## |\Z)", "", text,
                  flags=re.S).rstrip() + "\n"
    RESULTS.write_text(f"{text}\n{section}", encoding="utf-8")
    return section


def machine() -> str:
    """The machine, as `make bench` names it; run alone without LangChain (which
    bench.__main__ imports with every part), from the platform."""
    try:
        from bench.__main__ import machine as named
    except ImportError:
        return (f"{platform.system()} {platform.release()}, {os.cpu_count()} cores, "
                f"Python {platform.python_version()}")
    return named()


def write_stamped(heading: str, yardstick: str, rows: list[tuple[str, str, str]]) -> str:
    """`replace_section` with the run's time, machine and load first: `yardstick` says
    what, measured alongside, the figures are to be read against."""
    return replace_section(heading, [
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; {machine()}; load average "
        f"{os.getloadavg()[0]:.1f} at the end ({yardstick}).", "", *table(rows)])
