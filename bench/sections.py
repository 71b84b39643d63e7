"""A bench part run alone writes its own section of bench/RESULTS.md, replacing the
one an earlier run wrote there."""

from __future__ import annotations

import re
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
