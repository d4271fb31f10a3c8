"""Fixtures for role tests that need a fresh host but not a whole Molecule scenario."""

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collection"))
from collectionlib import tool

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "playbooks" / "check.yml"


def _start_container() -> str:
    engine = shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True)
    if not engine or engine.returncode:
        pytest.fail("no Docker engine answers: run `make lab` first")
    name = f"validation-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["docker", "run", "-d", "--rm", "--name", name, "lab/debian:12", "sleep", "infinity"],
        check=True,
        capture_output=True,
    )
    return name


@pytest.fixture(scope="session")
def fresh_host() -> Iterator[str]:
    """A fresh Debian 12 lab container, shared by tests that must not change it."""
    name = _start_container()
    yield name
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)


@pytest.fixture()
def own_fresh_host() -> Iterator[str]:
    """A fresh Debian 12 lab container for one test that may change it."""
    name = _start_container()
    yield name
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def run_playbook(
    playbook: Path, host: str, extra_vars: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run a playbook against one container over the docker connection."""
    return subprocess.run(
        [
            "ansible-playbook",
            *args,
            "-i",
            f"{host},",
            "-e",
            "ansible_connection=community.docker.docker",
            "-e",
            extra_vars,
            str(playbook),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"},
    )


SECRET = "dummy-password-0123456789"
ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDYxNTM2ODc2NzQ0YjRiMmI3ZmM5ZjY0ZTRhYjdiZjQ1 test"


def site_inventory(path: Path, groups: dict[str, dict[str, str]], **values: Any) -> Path:
    """Writes an inventory of localhost aliases for the site's check playbook: each group's
    hosts with their private addresses, dummy secrets (check.yml only refuses empty or
    CHANGE-ME ones), an admin key, and `values` for what would otherwise come from a host."""
    local = {
        "ansible_connection": "local",
        "ansible_host": "127.0.0.1",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "vault_postgresql_app_password": SECRET,
        "vault_redis_app_password": SECRET,
        "vault_app_secret_key": SECRET,
        "base_admin_ssh_keys": [ADMIN_KEY],
        **values,
    }
    children = {
        group: {"hosts": {host: {"private_address": address} for host, address in hosts.items()}}
        for group, hosts in groups.items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"all": {"vars": local, "children": children}}, sort_keys=False))
    return path


def site_playbook(inventory: Path, *args: str, playbook: Path = CHECK) -> tuple[int, str]:
    """Runs a playbook (the site's check playbook by default) against an inventory
    site_inventory wrote: its return code and its output."""
    result = subprocess.run(
        [tool("ansible-playbook"), "-i", str(inventory), *args, str(playbook)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            # The aliases all share this machine's facts; keep them out of the project's cache.
            "ANSIBLE_CACHE_PLUGIN": "memory",
        },
        check=False,
    )
    return result.returncode, result.stdout + result.stderr
