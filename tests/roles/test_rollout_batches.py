"""The rollout plays' batches (the collection's rollout_serial filter as their `serial`), run by
Ansible itself over a throwaway inventory of localhost aliases: app hosts `rollout_batch` at a
time, then the worker hosts together (or with the last app hosts: a deploy's), a --limit never
draining more app hosts at once, and a bad `rollout_batch` refused by the check playbook before
any change. No container."""

import re
from pathlib import Path

import pytest
from conftest import site_inventory, site_playbook

# The rollout plays' hosts and serial, each batch printing its hosts.
BATCHES = """
- name: Batches
  hosts: app:worker
  gather_facts: false
  serial: >-
    {{ rollout_batch | default(1)
       | fastapi_vps.stack.rollout_serial(groups, workers_apart=apart | bool) }}
  tasks:
    - name: Batch
      ansible.builtin.debug:
        msg: "batch={{ ansible_play_batch | join(',') }}"
      run_once: true
"""


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return site_inventory(
        tmp_path_factory.mktemp("batches") / "inventory" / "hosts.yml",
        {
            "app": {f"app{n}": f"10.9.0.2{n}" for n in range(1, 6)},
            # app2 is in the worker group too: an app host, batched as one.
            "worker": {"worker1": "10.9.0.41", "worker2": "10.9.0.42", "app2": "10.9.0.22"},
            "db": {"db1": "10.9.0.30"},
        },
        app_processes=[{"name": "worker", "command": ["app-worker"], "group": "worker"}],
        postgresql_version="15",
        postgresql_memory_mb=1024,
    )


def batches(inventory: Path, tmp_path: Path, *args: str) -> list[str]:
    playbook = tmp_path / "batches.yml"
    playbook.write_text(BATCHES)
    code, output = site_playbook(inventory, "-e", "apart=true", *args, playbook=playbook)
    assert code == 0, output[-3000:]
    return re.findall(r"^ *msg: batch=(\S*)$", output, re.MULTILINE)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), ["app1", "app2", "app3", "app4", "app5", "worker1,worker2"]),
        # A deploy's: the worker hosts in the last batch.
        (("-e", "apart=false"), ["app1", "app2", "app3", "app4", "app5,worker1,worker2"]),
        (
            ("-e", "apart=false", "-e", "rollout_batch=2"),
            ["app1,app2", "app3,app4", "app5,worker1,worker2"],
        ),
        (
            ("-e", "apart=false", "-e", "rollout_batch=5"),
            ["app1,app2,app3,app4,app5,worker1,worker2"],
        ),
        (("-e", "apart=false", "--limit", "app1,app4,worker1"), ["app1", "app4", "worker1"]),
        (
            ("-e", "apart=false", "--limit", "app4,app5,worker1,worker2"),
            ["app4", "app5", "worker1", "worker2"],
        ),
        (("-e", "rollout_batch=2"), ["app1,app2", "app3,app4", "app5", "worker1,worker2"]),
        (("-e", "rollout_batch=40%"), ["app1,app2", "app3,app4", "app5", "worker1,worker2"]),
        (("-e", "rollout_batch=5"), ["app1,app2,app3,app4,app5", "worker1,worker2"]),
        # Hosts left out by --limit: the batches shift, never two app hosts at once.
        (("--limit", "app1,app4,app5,worker1"), ["app1", "app4", "app5", "worker1"]),
        (("--limit", "app4,app5,worker1,worker2"), ["app4", "app5", "worker1", "worker2"]),
    ],
)
def test_app_hosts_switch_a_batch_at_a_time_the_workers_together(
    inventory: Path, tmp_path: Path, args: tuple[str, ...], expected: list[str]
) -> None:
    assert batches(inventory, tmp_path, *args) == expected


@pytest.mark.parametrize("value", ["0", "two", "150%"])
def test_a_bad_rollout_batch_is_refused_before_any_change(inventory: Path, value: str) -> None:
    code, output = site_playbook(inventory, "-e", f"rollout_batch={value}")
    assert code != 0, output[-3000:]
    assert f"rollout_batch is '{value}'" in output, output[-3000:]
    assert "a positive number (2) or a percentage of the app hosts (25%)" in output
    recaps = re.findall(r"^\w+\s+: ok=\d+\s+changed=(\d+)", output, re.MULTILINE)
    assert recaps and set(recaps) == {"0"}, output[-3000:]
