"""The reliability run's table: each step adds a row; the table is printed at the end of the
session and written to .cache/fleet/reliability.md."""

from pathlib import Path

import pytest

ROWS: list[dict[str, object]] = []
HEADER = ("step", "seconds", "requests", "failed", "p50 ms", "p99 ms", "note")


def table() -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in ROWS:
        lines.append("| " + " | ".join(str(row.get(key, "")) for key in HEADER) + " |")
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    text = table()
    terminalreporter.write_sep("=", "reliability under load (through nginx over HTTPS)")
    terminalreporter.write_line(text)
    out = Path(__file__).resolve().parents[2] / ".cache" / "fleet" / "reliability.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
