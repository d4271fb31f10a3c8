"""Where the app's processes run is checked before any change, naming the variable.

Runs the real check playbook (with the collection's wiring) against a throwaway inventory of
localhost aliases: app1 (app group), worker1 (worker group, no web process), db1. Nothing
changes; no container is needed."""

import json
import re
from pathlib import Path

import pytest
from conftest import site_inventory, site_playbook


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return site_inventory(
        tmp_path_factory.mktemp("processes") / "inventory" / "hosts.yml",
        {
            "app": {"app1": "10.9.0.21"},
            "worker": {"worker1": "10.9.0.41"},
            "db": {"db1": "10.9.0.30"},
        },
        app_workers=2,
        postgresql_version="15",
        postgresql_memory_mb=1024,
    )


def check(inventory: Path, processes: list[dict]) -> tuple[int, str, str]:
    """check.yml with these app_processes: its rc, its failure messages and its recap."""
    code, out = site_playbook(inventory, "-e", json.dumps({"app_processes": processes}))
    errors = "\n".join(re.findall(r"^\[ERROR\]: .*$", out, re.MULTILINE))
    return code, errors, "\n".join(re.findall(r"^\w+\s+: ok=.*$", out, re.M))


WORKER = {"name": "worker", "command": ["app-worker"], "group": "worker"}


def test_a_process_on_the_worker_group_passes(inventory: Path) -> None:
    code, errors, recap = check(inventory, [WORKER])
    assert code == 0, errors
    assert "worker1" in recap and "failed=0" in recap


def test_a_group_the_inventory_lacks_is_refused(inventory: Path) -> None:
    code, errors, recap = check(inventory, [{**WORKER, "group": "workers"}])
    assert code != 0
    assert "app_processes 'worker': group 'workers' is not a group of the inventory" in errors
    assert "changed=0" in recap and "changed=1" not in recap, recap


def test_a_worker_host_with_nothing_to_run_is_refused(inventory: Path) -> None:
    # Beside the web process only: the worker group's host would run nothing.
    code, errors, _ = check(inventory, [{**WORKER, "group": ""}])
    assert code != 0
    assert "app_web_process is false on worker1, and none of app_processes (worker)" in errors
