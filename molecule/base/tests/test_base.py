"""What a freshly converged host really does, seen from itself and from another host."""

import os

import pytest
import testinfra
import testinfra.utils.ansible_runner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("targets")

SSH = (
    "ssh -i /root/.ssh/id_ed25519 -o BatchMode=yes -o StrictHostKeyChecking=no -o ConnectTimeout=5"
)


@pytest.fixture(scope="module")
def probe():
    # `molecule test -p <target>` (make test-quick) creates no probe; the full suite always does.
    if not testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("probes"):
        pytest.skip("no probe in this run (molecule test -p)")
    return testinfra.get_host("ansible://base-probe", ansible_inventory=INVENTORY)


@pytest.fixture()
def name(host):
    return host.backend.get_hostname()


def connect(probe, target, port, timeout=3):
    """Open a TCP connection from the probe; True when it is accepted."""
    script = (
        "import socket,sys\n"
        f"s=socket.socket(); s.settimeout({timeout})\n"
        f"sys.exit(s.connect_ex(('{target}', {port})))\n"
    )
    return probe.run("python3 -c %s", script).rc == 0


def test_admin_user_logs_in_with_key_and_has_sudo(probe, name):
    result = probe.run(f"{SSH} deploy@{name} sudo -n id -u")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_root_login_is_refused_by_sshd(probe, host, name):
    # root holds the probe's key (prepare), so only sshd's policy can refuse it.
    assert host.file("/root/.ssh/authorized_keys").contains("ssh-ed25519")
    result = probe.run(f"{SSH} root@{name} true")
    assert result.rc == 255
    assert "Permission denied (publickey)" in result.stderr


def test_sshd_offers_no_password_authentication(probe, name):
    result = probe.run(
        f"ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o ConnectTimeout=5 "
        f"-o PubkeyAuthentication=no nobody@{name} true"
    )
    assert result.rc == 255
    # The methods sshd advertises: publickey alone.
    assert "Permission denied (publickey)" in result.stderr


def test_sshd_runs_the_hardened_configuration(host):
    with host.sudo():
        effective = host.check_output("sshd -T")
    assert "permitrootlogin no" in effective
    assert "passwordauthentication no" in effective
    assert "allowusers deploy" in effective


def test_app_user_cannot_log_in(probe, host, name):
    app = host.user("app")
    assert app.shell == "/usr/sbin/nologin"
    assert app.password in ("!", "!*", "*") or app.password.startswith("!")
    # Even holding an authorized key, the app user is turned away.
    with host.sudo():
        host.run("install -d -m 700 -o app /srv/app/.ssh")
        host.run("install -m 600 -o app /root/.ssh/authorized_keys /srv/app/.ssh/")
    result = probe.run(f"{SSH} app@{name} true")
    assert result.rc == 255
    with host.sudo():
        host.run("rm -rf /srv/app/.ssh")
    login = host.run("su - app -c true")
    assert login.rc != 0
    assert "not available" in login.stdout + login.stderr


def test_firewall_accepts_allowed_and_drops_other_ports(probe, host, name):
    # Both ports serve locally, so only the firewall can make the difference.
    local = "import urllib.request as u; u.urlopen('http://127.0.0.1:8081')"
    assert host.run("python3 -c %s", local).rc == 0
    assert connect(probe, name, 8080)
    assert not connect(probe, name, 8081)
    assert connect(probe, name, 22)


def test_firewall_survives_in_its_own_table(host):
    with host.sudo():
        ruleset = host.check_output("nft list ruleset")
    assert "table inet host_firewall" in ruleset
    assert "policy drop" in ruleset
    # Docker's DNS rules (another table) are still there: the reload only touched its own.
    assert "DOCKER_OUTPUT" in ruleset
    assert host.service("nftables").is_enabled


def test_fail2ban_watches_sshd(host):
    assert host.service("fail2ban").is_running
    with host.sudo():
        status = host.check_output("fail2ban-client status sshd")
    assert "Currently banned" in status


def test_kernel_backlogs_are_raised(host):
    assert host.sysctl("net.core.somaxconn") == 8192
    assert host.sysctl("net.ipv4.tcp_max_syn_backlog") == 8192
    assert host.file("/etc/sysctl.d/60-base.conf").contains("net.core.somaxconn")


def test_swap_only_where_memory_is_short(host, name):
    swaps = host.check_output("cat /proc/swaps")
    if name == "base-debian12":
        assert "/var/lib/swap/swapfile" in swaps
        assert host.file("/var/lib/swap/swapfile").mode == 0o600
        assert host.file("/etc/fstab").contains("^/var/lib/swap/swapfile none swap sw")
    else:
        assert not host.file("/swapfile").exists
        assert not host.file("/etc/fstab").contains("swap")


def test_security_updates_are_automatic(host):
    config = host.check_output("apt-config dump")
    assert 'APT::Periodic::Unattended-Upgrade "1"' in config
    assert "Debian-Security" in config
    assert host.package("unattended-upgrades").is_installed


def test_time_zone_and_locale(host):
    assert host.file("/etc/localtime").linked_to.endswith("Etc/UTC")
    assert host.file("/etc/default/locale").contains("LANG=C.UTF-8")
