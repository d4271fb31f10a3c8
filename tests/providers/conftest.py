"""Fixtures for the provider tests: API stand-ins on loopback, a provisioning run against each,
and a throwaway container with Debian's cloud-init for validating user-data."""

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from standins.do_api import DigitalOceanStandIn
from standins.hcloud_api import HcloudStandIn

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "standin-token-" + uuid.uuid4().hex
CLOUD_INIT_IMAGE = "lab/debian:12"


def ansible_env(**extra: str) -> dict[str, str]:
    """The environment of every ansible command here: no colour, and an inventory source that
    fails to parse is an error rather than a warning."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HCLOUD_", "DO_API"))}
    env.update(
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_INVENTORY_UNPARSED_FAILED="1",
        ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="1",
    )
    env.update(extra)
    return env


def run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _plain(value: Any) -> Any:
    """ansible-inventory marks values from plugins as {"__ansible_unsafe": value}; drop that."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@dataclass
class Inventory:
    groups: dict[str, set[str]]
    hostvars: dict[str, dict[str, Any]]


def inventory(source: Path, env: dict[str, str]) -> Inventory:
    """`ansible-inventory --list` of one source, as groups of hosts and host variables."""
    result = run(["ansible-inventory", "-i", str(source), "--list"], env)
    assert result.returncode == 0, result.stderr
    data = _plain(json.loads(result.stdout))
    groups = {
        name: set(body.get("hosts", []))
        for name, body in data.items()
        if name != "_meta" and isinstance(body, dict)
    }
    return Inventory(groups=groups, hostvars=data["_meta"]["hostvars"])


@dataclass
class PlaybookRun:
    returncode: int
    output: str
    changed: int
    writes: list[tuple[str, str]]


_RECAP = re.compile(
    r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M
)


def playbook(cmd: list[str], env: dict[str, str], standin: Any) -> PlaybookRun:
    before = len(standin.writes())
    result = run(cmd, env)
    output = result.stdout + result.stderr
    recap = _RECAP.search(result.stdout)
    changed = int(recap.group(2)) if recap else -1
    return PlaybookRun(result.returncode, output, changed, standin.writes()[before:])


@pytest.fixture(scope="session")
def admin_key(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh ed25519 public key for the admin user."""
    path = tmp_path_factory.mktemp("key") / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "deploy@standin", "-f", str(path)],
        check=True,
    )
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture()
def hcloud() -> Iterator[HcloudStandIn]:
    standin = HcloudStandIn(TOKEN).start()
    yield standin
    standin.stop()


@pytest.fixture()
def do_api() -> Iterator[DigitalOceanStandIn]:
    standin = DigitalOceanStandIn(TOKEN).start()
    yield standin
    standin.stop()


def hcloud_env(standin: HcloudStandIn, token: str = TOKEN) -> dict[str, str]:
    return ansible_env(HCLOUD_TOKEN=token, HCLOUD_ENDPOINT=standin.url)


def do_inventory_dir(standin: DigitalOceanStandIn, dest: Path) -> Path:
    """inventories/digitalocean pointed at the stand-in: this plugin reads its API URL only
    from its config file (`baseurl`), never from the environment."""
    shutil.copytree(ROOT / "inventories" / "digitalocean", dest)
    config = dest / "digitalocean.yml"
    config.write_text(config.read_text() + f"baseurl: {standin.url}\n")
    return dest


@dataclass
class Provisioned:
    standin: Any
    first: PlaybookRun
    second: PlaybookRun
    inventory_source: Path
    env: dict[str, str]


@pytest.fixture(scope="session")
def hcloud_provisioned(admin_key: str) -> Iterator[Provisioned]:
    """playbooks/provision-hetzner.yml run twice against one stand-in, with the topology of
    inventories/hetzner."""
    standin = HcloudStandIn(TOKEN).start()
    env = hcloud_env(standin)
    cmd = [
        "ansible-playbook",
        "-i",
        "inventories/hetzner",
        "playbooks/provision-hetzner.yml",
        "-e",
        json.dumps({"base_admin_ssh_keys": [admin_key]}),
    ]
    first = playbook(cmd, env, standin)
    second = playbook(cmd, env, standin)
    yield Provisioned(standin, first, second, ROOT / "inventories/hetzner/hcloud.yml", env)
    standin.stop()


@pytest.fixture(scope="session")
def do_provisioned(
    admin_key: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Provisioned]:
    """playbooks/provision-digitalocean.yml run twice against one stand-in, with the topology
    of inventories/digitalocean."""
    standin = DigitalOceanStandIn(TOKEN).start()
    env = ansible_env(DO_API_TOKEN=TOKEN)
    inv = do_inventory_dir(standin, tmp_path_factory.mktemp("do") / "digitalocean")
    cmd = [
        "ansible-playbook",
        "-i",
        str(inv),
        "playbooks/provision-digitalocean.yml",
        "-e",
        json.dumps({"base_admin_ssh_keys": [admin_key], "provision_do_api_url": standin.url}),
    ]
    first = playbook(cmd, env, standin)
    second = playbook(cmd, env, standin)
    yield Provisioned(standin, first, second, inv / "digitalocean.yml", env)
    standin.stop()


class CloudInitBox:
    """A throwaway lab container in which Debian's cloud-init package is being installed."""

    def __init__(self) -> None:
        self.name = f"providers-cloudinit-{uuid.uuid4().hex[:8]}"
        info = subprocess.run(["docker", "info"], capture_output=True)
        if info.returncode:
            pytest.fail("no Docker engine answers: run `make lab` first")
        subprocess.run(
            [
                "docker",
                "run",
                "-d",
                "--rm",
                "--name",
                self.name,
                CLOUD_INIT_IMAGE,
                "sleep",
                "infinity",
            ],
            check=True,
            capture_output=True,
        )
        self.install = subprocess.Popen(
            [
                "docker",
                "exec",
                "-e",
                "DEBIAN_FRONTEND=noninteractive",
                self.name,
                "sh",
                "-c",
                "apt-get update -q && apt-get install -y -q --no-install-recommends cloud-init",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def ready(self) -> None:
        output, _ = self.install.communicate(timeout=300)
        assert self.install.returncode == 0, output

    def schema(self, user_data: str) -> subprocess.CompletedProcess[str]:
        """`cloud-init schema -c` on a user-data document."""
        self.ready()
        path = f"/tmp/user-data-{uuid.uuid4().hex[:8]}"
        subprocess.run(
            ["docker", "exec", "-i", self.name, "sh", "-c", f"cat > {path}"],
            input=user_data,
            text=True,
            check=True,
        )
        return subprocess.run(
            ["docker", "exec", self.name, "cloud-init", "schema", "-c", path],
            capture_output=True,
            text=True,
        )

    def remove(self) -> None:
        if self.install.poll() is None:
            self.install.kill()
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True)


@pytest.fixture(scope="session", autouse=True)
def cloud_init_box() -> Iterator[CloudInitBox]:
    """Started with the session so the package installs while the other tests run."""
    box = CloudInitBox()
    yield box
    box.remove()
