"""Bad variables stop the base role before it changes anything, naming the variable."""

import json
import subprocess
from pathlib import Path

import pytest
from conftest import run_playbook

PLAYBOOK = Path(__file__).parent / "playbooks" / "base.yml"
GOOD_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDYxNTM2ODc2NzQ0YjRiMmI3ZmM5ZjY0ZTRhYjdiZjQ1 test"
GOOD = {"base_admin_ssh_keys": [GOOD_KEY]}
# Succeeds when the role has left any trace on a host.
TOUCHED = "id deploy || test -e /etc/nftables.d || dpkg -s python3-apt"

CASES = {
    "malformed CIDR": ({"base_firewall_ssh_sources": ["10.0.0.0/33"]}, "base_firewall_ssh_sources"),
    "unknown choice": (
        {"base_firewall_allow": [{"name": "x", "port": 80, "proto": "icmp"}]},
        "base_firewall_allow",
    ),
    "missing SSH key": ({"base_admin_ssh_keys": []}, "base_admin_ssh_keys"),
    "port out of range": ({"base_ssh_port": 70000}, "base_ssh_port"),
    "not a number": ({"base_swap_size_mb": "lots"}, "base_swap_size_mb"),
    "admin locked out": ({"base_ssh_allow_users": ["alice"]}, "base_ssh_allow_users"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_variable_stops_the_play_before_any_change(fresh_host, case):
    overrides, variable = CASES[case]
    result = run_playbook(PLAYBOOK, fresh_host, json.dumps(GOOD | overrides))
    output = result.stdout + result.stderr

    assert result.returncode != 0, output
    assert variable in output, output
    assert f"{fresh_host}" in output and "changed=0" in output, output
    # The host is as fresh as before: no admin user, no firewall, no apt bindings installed.
    probe = subprocess.run(
        ["docker", "exec", fresh_host, "sh", "-c", TOUCHED],
        capture_output=True,
    )
    assert probe.returncode != 0


def test_good_variables_pass_validation(own_fresh_host):
    # The same checks pass with good values: the cases above fail on their value alone.
    result = run_playbook(
        PLAYBOOK,
        own_fresh_host,
        json.dumps(GOOD),
        "--tags=base_validate",
        "--skip-tags=base_prerequisites",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Validate | the admin user keeps a way in" in output
    assert "failed=0" in output
