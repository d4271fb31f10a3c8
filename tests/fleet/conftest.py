"""The reliability run's table: each step adds a row; the table is printed at the end of the
session and written to .cache/fleet/reliability.md."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collection"))
from collectionlib import NAME, install, tool

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


@pytest.fixture(scope="session", autouse=True)
def installed_collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fleet is deployed from the collection as a user installs it: the tarball built from
    this checkout, installed into an empty directory outside it, the only collections path of
    every playbook run here (the checkout's own copy is not on it)."""
    dest = install(tmp_path_factory.mktemp("collections"))
    os.environ["ANSIBLE_COLLECTIONS_PATH"] = str(dest)
    listed = subprocess.run(
        [tool("ansible-galaxy"), "collection", "list", NAME, "--format", "json"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    )
    assert list(json.loads(listed.stdout)) == [str(dest / "ansible_collections")], listed.stdout
    return dest
