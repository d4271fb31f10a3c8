"""PostgreSQL's connection budget is derived from the app hosts, and checked before any change.

Runs the real check playbook (with the collection's wiring, playbooks/group_vars/all) against a
throwaway inventory of localhost aliases: app1 and app2 with 3 workers each and the default
pool of 10, worker1 (the worker group) with 2 instances of a process of 4 connections each,
db1 for PostgreSQL. The checks change nothing; no container is needed.
Their need: 2 * 3 * 10 + 2 * 4 + 2 (one one-off command) + 10 (the reserve) = 80 connections.
"""

import getpass
import os
import re
from pathlib import Path

import pytest
import yaml
from conftest import CHECK, ROOT, site_inventory, site_playbook
from conftest import SECRET as PASSWORD

NEEDED = 80
BUDGET_TASK = "TASK [Check | the app hosts' database connections fit in max_connections]"
ROLE_ALONE = """
- name: PostgreSQL's checks alone
  hosts: all
  gather_facts: true
  tasks:
    - name: Check
      ansible.builtin.include_role:
        name: fastapi_vps.stack.postgresql
        tasks_from: validate
"""


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The inventory in a directory of its own, so that nothing else there is read as its vars.
    return site_inventory(
        tmp_path_factory.mktemp("budget") / "inventory" / "hosts.yml",
        {
            "app": {"app1": "10.9.0.21", "app2": "10.9.0.22"},
            "worker": {"worker1": "10.9.0.41"},
            "db": {"db1": "10.9.0.30"},
        },
        # base: whoever runs this may log in (base reads the connecting user from SUDO_USER,
        # else the user the tasks run as).
        base_ssh_allow_users=["deploy", getpass.getuser(), os.environ.get("SUDO_USER", "root")],
        # What would otherwise come from the host: the workers from its cores and memory, the
        # PostgreSQL version from its Debian release, the memory PostgreSQL plans with.
        app_workers=3,
        # A queue worker on the worker group's hosts only.
        app_processes=[
            {
                "name": "worker",
                "command": ["app-worker"],
                "instances": 2,
                "group": "worker",
                "db_connections": 4,
            }
        ],
        postgresql_version="15",
        postgresql_memory_mb=1024,
    )


def errors(output: str) -> str:
    """The failure messages, one line each."""
    return "\n".join(re.findall(r"^\[ERROR\]: .*$", output, re.MULTILINE))


def recap(output: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+)\s+: (ok=.*)$", output, re.MULTILINE))


def budget_results(output: str) -> list[str]:
    """What each run of the budget task printed, in order."""
    return [part.split("TASK [")[0] for part in output.split(BUDGET_TASK)[1:]]


def test_one_connection_short_stops_before_any_change(inventory: Path) -> None:
    # The processes', the command's and the reserve's connections count: 79 is one short of
    # 60 + 8 + 2 + 10.
    code, output = site_playbook(inventory, "-e", f"postgresql_max_connections={NEEDED - 1}")
    message = errors(output)
    assert code != 0, output[-4000:]
    expected = f"needs {NEEDED} connections, more than postgresql_max_connections ({NEEDED - 1})"
    assert expected in message, output[-4000:]
    for host in ("app1", "app2"):
        assert (
            f"{host} opens up to 30 (3 workers x app_db_pool_size 10, its processes 0)" in message
        )
    worker = "worker1 opens up to 8 (0 workers x app_db_pool_size 10, its processes 8)"
    assert worker in message, message
    assert "a one-off command 2 (app_db_command_connections)" in message, message
    assert "10 are kept (postgresql_reserved_connections)" in message, message
    stats = recap(output)
    assert "failed=1 " in stats["db1"], stats
    assert all("changed=0 " in line for line in stats.values()), stats


def test_an_app_host_left_out_by_limit_is_named(inventory: Path) -> None:
    code, output = site_playbook(inventory, "--limit", "app1,db1")
    message = errors(output)
    assert code != 0, output[-4000:]
    assert "but app2, worker1 are not in this run (left out by --limit" in message, output[-4000:]
    assert "include them (--limit app1,db1,app2,worker1)" in message, message
    assert "failed=1 " in recap(output)["db1"], recap(output)


def test_the_derived_budget_fits_and_is_checked_once_per_run(
    inventory: Path, tmp_path: Path
) -> None:
    # site.yml runs check.yml, then deploy.yml's with check__ran: the first pass checks the
    # derived budget, the second's plays match no host, so a max_connections given to it alone
    # passes and the budget is checked once.
    twice = tmp_path / "twice.yml"
    twice.write_text(
        yaml.safe_dump(
            [
                {"name": "First", "ansible.builtin.import_playbook": str(CHECK)},
                {
                    "name": "Second",
                    "ansible.builtin.import_playbook": str(CHECK),
                    "vars": {"postgresql_max_connections": 20, "check__ran": True},
                },
            ],
            sort_keys=False,
        )
    )
    # Playbook group_vars come from the top playbook's directory: give it the site's.
    (tmp_path / "group_vars").symlink_to(ROOT / "group_vars")
    code, output = site_playbook(inventory, playbook=twice)
    assert code == 0, output[-4000:]
    stats = recap(output)
    assert set(stats) == {"app1", "app2", "worker1", "db1"}, output[-4000:]
    assert all("changed=0 " in line and "failed=0 " in line for line in stats.values()), stats
    (first,) = budget_results(output)
    assert "ok: [db1]" in first, output[-4000:]
    assert output.count("skipping: no hosts matched") == 3, output[-4000:]


def test_the_postgresql_role_alone_refuses_a_too_small_max_connections(tmp_path: Path) -> None:
    # The role's own contract, wired without the site: its defaults (40 + 10), max 45.
    play = tmp_path / "postgresql.yml"
    play.write_text(ROLE_ALONE)
    inventory = tmp_path / "hosts.yml"
    alone = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "postgresql_app_password": PASSWORD,
        "postgresql_version": "15",
        "postgresql_memory_mb": 1024,
    }
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"db1": alone}}}))
    code, output = site_playbook(inventory, "-e", "postgresql_max_connections=45", playbook=play)
    assert code != 0, output[-4000:]
    assert (
        "postgresql_max_connections (45) is less than postgresql_app_connections (40)"
        " + postgresql_reserved_connections (10) = 50" in errors(output)
    ), output[-4000:]
