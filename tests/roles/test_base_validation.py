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

# The argument spec reports every value of the wrong type or choice at once, and the role's own
# rules every broken rule at once: two runs cover every case.
CASES = {
    "the argument spec": (
        {
            "base_firewall_allow": [{"name": "x", "port": 80, "proto": "icmp"}],
            "base_swap_size_mb": "lots",
        },
        ["base_firewall_allow", "base_swap_size_mb"],
    ),
    "the role's rules": (
        {
            "base_firewall_ssh_sources": ["10.0.0.0/33"],
            "base_admin_ssh_keys": [],
            "base_ssh_port": 70000,
            "base_ssh_allow_users": ["alice"],
        },
        [
            "base_firewall_ssh_sources",
            "base_admin_ssh_keys",
            "base_ssh_port",
            "base_ssh_allow_users",
        ],
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_variables_stop_the_play_before_any_change(fresh_host, case):
    overrides, variables = CASES[case]
    result = run_playbook(PLAYBOOK, fresh_host, json.dumps(GOOD | overrides))
    output = result.stdout + result.stderr

    assert result.returncode != 0, output
    for variable in variables:
        assert variable in output, (variable, output)
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
    assert "Validate | the role's variables" in output
    assert "failed=0" in output
