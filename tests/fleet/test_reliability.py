"""The product as its users run it, on the local fleet, under load.

A fresh fleet is bootstrapped as root over SSH, then converged by site.yml as the admin user;
from then on fleet-client sends a steady stream of reads, writes and WebSocket sessions through
nginx over HTTPS (tests/fleet/load.py) while the steps below run, each step adding a row
(requests, failed, latency) to the table conftest.py prints. Steps run in file order and
depend on each other: the first failure stops the rest.
"""

import statistics
import subprocess
import time
from collections.abc import Callable

import pytest
from conftest import ROWS
from fleetlib import (
    APP_HOSTS,
    CACHE,
    CLIENT,
    DATA,
    KINDS,
    SITE_HOSTS,
    WEB,
    Load,
    Run,
    load_token,
    percentile,
    playbook,
    reachable,
    served_release,
    sh,
    wait_ready,
)

LOAD = Load()


def measure(step: str, action: Callable[[], str | None]) -> list[dict]:
    """Runs `action` under load and adds its row; returns the records of the window."""
    since = time.time()
    note = action() or ""
    until = time.time()
    LOAD.settle(until)  # responses to requests sent before `until` may still be coming in
    records = LOAD.records(since, until)
    latencies = sorted(row["ms"] for row in records)
    failed = [row for row in records if not row["ok"]]
    ROWS.append(
        {
            "step": step,
            "seconds": round(until - since),
            "requests": len(records),
            "failed": len(failed),
            "p50 ms": round(statistics.median(latencies), 1) if latencies else "",
            "p99 ms": round(percentile(latencies, 0.99), 1) if latencies else "",
            "note": note,
        }
    )
    if failed:
        print(f"{step}: failed requests: {[(r['kind'], r['detail']) for r in failed[:10]]}")
    assert records, f"{step}: the load generator recorded nothing"
    return records


def row(step: str, seconds: float, note: str) -> None:
    ROWS.append({"step": step, "seconds": round(seconds), "note": note})


# ---------------------------------------------------------------- 1. fresh site, second run, check


def test_fresh_fleet_bootstrapped_as_root_over_ssh() -> None:
    assert playbook("playbooks/lab/fleet.yml", "-e", "fleet_state=absent").rc == 0
    created = playbook("playbooks/lab/fleet.yml")
    assert created.rc == 0, created.out[-3000:]
    run = playbook("playbooks/bootstrap.yml")
    assert run.rc == 0, run.out[-3000:]
    row("bootstrap.yml as root over SSH", run.seconds, "4 fresh hosts")


def test_root_login_is_refused_afterwards() -> None:
    for address in [WEB, *APP_HOSTS.values(), DATA]:
        result = subprocess.run(
            [
                "ssh", "-i", str(CACHE / "id_ed25519"), "-o", "BatchMode=yes",
                "-o", f"UserKnownHostsFile={CACHE / 'known_hosts'}",
                "-o", "StrictHostKeyChecking=accept-new",
                f"root@{address}", "true",
            ],
            capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        assert result.returncode == 255 and "Permission denied" in result.stderr, (
            address,
            result.stderr,
        )


def test_site_on_fresh_hosts() -> None:
    run = playbook("site.yml")
    assert run.rc == 0, run.out[-5000:]
    assert set(run.changed()) >= set(SITE_HOSTS)
    row("site.yml, fresh hosts (as deploy + sudo)", run.seconds, "")


def test_load_starts() -> None:
    LOAD.start(load_token())
    records = measure("load alone, 10 s", lambda: time.sleep(10))
    assert all(r["ok"] for r in records), [r for r in records if not r["ok"]][:5]
    assert {r["kind"] for r in records} == KINDS


def test_second_run_changes_nothing() -> None:
    runs: list[Run] = []
    measure("site.yml again", lambda: runs.append(playbook("site.yml")) or "")
    assert runs[0].rc == 0, runs[0].out[-3000:]
    assert set(runs[0].changed().values()) == {0}, runs[0].changed()
    ROWS[-1]["note"] = "changed=0 on every host"


def test_a_bad_variable_of_the_web_hosts_stops_every_host_before_any_change() -> None:
    run = playbook("site.yml", "-e", "nginx_upstream_keepalive=lots")
    assert run.rc != 0
    assert "nginx_upstream_keepalive" in run.out, run.out[-3000:]
    # Refused in the first plays, on the web host, before the app and data hosts changed too.
    assert set(run.changed()) >= set(SITE_HOSTS), run.out[-3000:]
    assert set(run.changed().values()) == {0}, run.changed()
    row("site.yml with a bad nginx variable", run.seconds, "refused, changed=0 on every host")


def test_check_diff_runs_clean() -> None:
    runs: list[Run] = []
    measure(
        "site.yml --check --diff",
        lambda: runs.append(playbook("site.yml", "--check", "--diff")) or "",
    )
    assert runs[0].rc == 0, runs[0].out[-3000:]
    assert set(runs[0].changed().values()) == {0}, runs[0].changed()
    ROWS[-1]["note"] = "changed=0, no failure"


# ---------------------------------------------------------------- 2-5. rollouts under load


@pytest.fixture(scope="module")
def first_release() -> str:
    return served_release("fleet-app1")


def test_deploy_new_release(first_release: str) -> None:
    runs: list[Run] = []
    records = measure(
        "deploy.yml, new release",
        lambda: (
            runs.append(playbook("playbooks/deploy.yml", "-e", "app_release_id=fleet-r2")) or ""
        ),
    )
    assert runs[0].rc == 0, runs[0].out[-5000:]
    assert {host: served_release(host) for host in APP_HOSTS} == dict.fromkeys(
        APP_HOSTS, "fleet-r2"
    )
    served = {r["detail"].split("@")[0] for r in records if r["kind"] == "version" and r["ok"]}
    assert {first_release, "fleet-r2"} <= served, served  # the load really crossed the switch
    ROWS[-1]["note"] = f"{first_release[:12]} -> fleet-r2 on both app hosts"
    assert ROWS[-1]["failed"] == 0


def test_deploy_of_an_unready_release_rolls_back_and_stops() -> None:
    runs: list[Run] = []
    bad = ["-e", "app_release_id=fleet-r3-unready", "-e", "app_ready_timeout=10",
           "-e", '{"app_release_env": {"APP_REDIS_URL": "redis://127.0.0.1:1/0"}}']  # fmt: skip
    measure(
        "deploy.yml, release failing readiness",
        lambda: runs.append(playbook("playbooks/deploy.yml", *bad)) or "",
    )
    assert runs[0].rc != 0
    assert "release fleet-r3-unready failed readiness" in runs[0].out
    assert "rolled back to fleet-r2" in runs[0].out
    # The rollout stopped at the first host: the second never switched.
    assert {host: served_release(host) for host in APP_HOSTS} == dict.fromkeys(
        APP_HOSTS, "fleet-r2"
    )
    ROWS[-1]["note"] = "first host rolled back, rollout stopped, fleet-r2 everywhere"
    assert ROWS[-1]["failed"] == 0


def test_rollback_returns_the_previous_release(first_release: str) -> None:
    runs: list[Run] = []
    measure("rollback.yml", lambda: runs.append(playbook("playbooks/rollback.yml")) or "")
    assert runs[0].rc == 0, runs[0].out[-5000:]
    assert {host: served_release(host) for host in APP_HOSTS} == dict.fromkeys(
        APP_HOSTS, first_release
    )
    ROWS[-1]["note"] = f"back to {first_release[:12]} on both app hosts"
    assert ROWS[-1]["failed"] == 0


def test_rolling_restart() -> None:
    before = {
        host: sh(host, "systemctl show -p MainPID --value reference-app.service").stdout
        for host in APP_HOSTS
    }
    runs: list[Run] = []
    measure("restart.yml", lambda: runs.append(playbook("playbooks/restart.yml")) or "")
    assert runs[0].rc == 0, runs[0].out[-5000:]
    after = {
        host: sh(host, "systemctl show -p MainPID --value reference-app.service").stdout
        for host in APP_HOSTS
    }
    assert all(before[host] != after[host] for host in APP_HOSTS), (before, after)
    ROWS[-1]["note"] = "new gunicorn master on both app hosts"
    assert ROWS[-1]["failed"] == 0


def test_status_reports_every_host(first_release: str) -> None:
    run = playbook("playbooks/status.yml")
    assert run.rc == 0, run.out[-3000:]
    assert all(host in run.out for host in SITE_HOSTS)
    assert run.out.count(f"serving={first_release}") == len(APP_HOSTS), run.out[-2000:]
    assert "certs=reference-app:" in run.out and "down=none" in run.out, run.out[-2000:]
    row("status.yml", run.seconds, "releases, units, certificate days left, nothing drained")


# ---------------------------------------------------------------- 6. dependency blips

# A client polling /health/ready through nginx while a dependency is down: the app answers 503
# there, which must not count against the app hosts (nginx would then skip both for every route).
READY_POLLER = r"""
import http.client, ssl, sys, time
context = ssl.create_default_context(cafile="/root/fleet-ca.pem")
end = time.time() + float(sys.argv[1])
while time.time() < end:
    conn = http.client.HTTPSConnection("www.fleet.test", 443, context=context, timeout=5)
    try:
        conn.request("GET", "/health/ready")
        conn.getresponse().read()
    except (OSError, http.client.HTTPException):
        pass
    finally:
        conn.close()
    time.sleep(0.05)
"""


@pytest.mark.parametrize(
    ("part", "unit"), [("PostgreSQL", "postgresql"), ("Redis", "redis-server")]
)
def test_a_dependency_stopped_for_5_s(part: str, unit: str) -> None:
    back: list[float] = []

    def blip() -> str:
        sh(CLIENT, "cat > /root/ready_poller.py", stdin=READY_POLLER)
        subprocess.run(
            ["docker", "exec", "-d", CLIENT, "python3", "/root/ready_poller.py", "12"], check=True
        )
        assert sh("fleet-data1", f"systemctl stop {unit}").returncode == 0
        time.sleep(5)
        assert sh("fleet-data1", f"systemctl start {unit}").returncode == 0
        back.append(time.time())
        time.sleep(5)  # the routes that needed it recover
        return ""

    records = measure(f"{part} stopped for 5 s", blip)
    failed: dict[str, int] = {}
    recovered: dict[str, float] = {}
    for kind in sorted(KINDS):
        rows = [r for r in records if r["kind"] == kind]
        failed[kind] = sum(not r["ok"] for r in rows)
        last_failure = max((r["t"] for r in rows if not r["ok"]), default=back[0])
        recovered[kind] = max(0.0, last_failure - back[0])
    ROWS[-1]["note"] = "failed by kind " + ", ".join(f"{k} {n}" for k, n in failed.items())
    ROWS[-1]["note"] += "; last failure after restart: " + ", ".join(
        f"{k} {s:.1f} s" for k, s in recovered.items() if failed[k]
    )
    # /version needs neither: no request of it fails, whatever /health/ready says meanwhile.
    assert failed["version"] == 0, ROWS[-1]["note"]


# ---------------------------------------------------------------- 7-8. crashes (reported)


# nginx's default for an upstream server: after a failed attempt, each nginx worker (they do
# not share this state) skips the server for 10 s.
FAIL_TIMEOUT = 10
APP1_READY: list[float] = []


def test_kill_9_of_the_gunicorn_master() -> None:
    def kill() -> str:
        sh("fleet-app1", "kill -9 $(systemctl show -p MainPID --value reference-app.service)")
        ready = wait_ready("fleet-app1")
        APP1_READY.append(time.time())
        return f"systemd restarted it, ready after {ready:.0f} s"

    measure("kill -9 gunicorn master (app1)", kill)
    assert sh("fleet-app1", "systemctl is-active reference-app.service").stdout.strip() == "active"


def test_reboot_of_an_app_host() -> None:
    # A separate incident: app1 is back in the rotation of every nginx worker before app2 goes
    # down. Attempts fail only until app1 is ready, so every worker's mark is over FAIL_TIMEOUT
    # later (one worker's answer from app1 would not say the others are past theirs).
    time.sleep(max(0.0, APP1_READY[-1] + FAIL_TIMEOUT + 1 - time.time()))

    def reboot() -> str:
        subprocess.run(["docker", "restart", "fleet-app2"], check=True, capture_output=True)
        return f"all units back by themselves, ready after {wait_ready('fleet-app2'):.0f} s"

    measure("reboot of app2 (container restart)", reboot)
    units = "reference-app.socket reference-app.service nftables ssh"
    assert sh("fleet-app2", f"systemctl is-active {units}").stdout.split() == ["active"] * 4
    # Back in the rotation without anyone touching nginx: the load reaches app2 again once
    # FAIL_TIMEOUT for the failures the reboot caused has passed.
    ready = time.time()
    ROWS[-1]["note"] += f", back in rotation {back_in_rotation('fleet-app2', ready):.0f} s later"


def back_in_rotation(host: str, since: float, timeout: float = 30) -> float:
    """Seconds from `since` until the load's /version answers come from `host` again."""
    while time.time() - since < timeout:
        records = LOAD.records(since, time.time())
        if any(r["detail"].endswith(f"@{host}") for r in records if r["kind"] == "version"):
            return time.time() - since
        time.sleep(0.5)
    raise AssertionError(f"no request reached {host} within {timeout:.0f} s")


# ---------------------------------------------------------------- 9. firewall matrix


def test_firewall_matrix() -> None:
    app1, app2 = APP_HOSTS.values()
    expected = {
        # from outside the fleet: only 80 and 443 of the web host
        (CLIENT, WEB, 80): True,
        (CLIENT, WEB, 443): True,
        (CLIENT, WEB, 22): False,
        (CLIENT, app1, 8000): False,
        (CLIENT, app1, 22): False,
        (CLIENT, DATA, 5432): False,
        (CLIENT, DATA, 6379): False,
        # the app port from the web host only
        ("fleet-web1", app1, 8000): True,
        ("fleet-web1", app2, 8000): True,
        ("fleet-data1", app1, 8000): False,
        ("fleet-app2", app1, 8000): False,
        # PostgreSQL and Redis from the app hosts only
        ("fleet-app1", DATA, 5432): True,
        ("fleet-app1", DATA, 6379): True,
        ("fleet-app2", DATA, 5432): True,
        ("fleet-app2", DATA, 6379): True,
        ("fleet-web1", DATA, 5432): False,
        ("fleet-web1", DATA, 6379): False,
    }
    started = time.monotonic()
    seen = {case: reachable(*case) for case in expected}
    wrong = {case: seen[case] for case in expected if seen[case] != expected[case]}
    open_count = sum(seen.values())
    row(
        "firewall matrix",
        time.monotonic() - started,
        f"{len(expected)} probes, {open_count} open as expected",
    )
    assert not wrong, wrong


def test_load_ends() -> None:
    LOAD.stop()
