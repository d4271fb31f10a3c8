"""The product as its users run it, on the local fleet, under load.

A fresh fleet is bootstrapped as root over SSH, then converged by site.yml as the admin user;
from then on fleet-client sends a steady stream of reads, writes and WebSocket sessions through
nginx over HTTPS (tests/fleet/load.py) while the steps below run, each step adding a row
(requests, failed, latency) to the table conftest.py prints. Steps run in file order and
depend on each other: the first failure stops the rest.
"""

import concurrent.futures
import json
import re
import statistics
import subprocess
import threading
import time
from collections.abc import Callable

import pytest
from conftest import ROWS
from fleetlib import (
    APP_HOSTS,
    BACKUP,
    BACKUP_HOST,
    CACHE,
    CLIENT,
    DATA,
    KINDS,
    SITE_HOSTS,
    WEB,
    WORKER,
    WORKER_HOST,
    WORKERS,
    Load,
    Run,
    load_token,
    percentile,
    playbook,
    process_releases,
    psql,
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
    row("bootstrap.yml as root over SSH", run.seconds, f"{len(SITE_HOSTS)} fresh hosts")


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
    LOAD.start(load_token(), pace=6.0)
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
    # The worker host's processes switched too, in the last batch.
    assert process_releases(WORKER_HOST) == ["fleet-r2"] * 2
    ROWS[-1]["note"] = f"{first_release[:12]} -> fleet-r2 on both app hosts and the worker host"
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
    # The rollout stopped at the first host: the others never switched.
    assert {host: served_release(host) for host in APP_HOSTS} == dict.fromkeys(
        APP_HOSTS, "fleet-r2"
    )
    assert process_releases(WORKER_HOST) == ["fleet-r2"] * 2
    ROWS[-1]["note"] = "first host rolled back, rollout stopped, fleet-r2 everywhere"
    assert ROWS[-1]["failed"] == 0


def test_rollback_returns_the_previous_release(first_release: str) -> None:
    runs: list[Run] = []
    measure("rollback.yml", lambda: runs.append(playbook("playbooks/rollback.yml")) or "")
    assert runs[0].rc == 0, runs[0].out[-5000:]
    assert {host: served_release(host) for host in APP_HOSTS} == dict.fromkeys(
        APP_HOSTS, first_release
    )
    assert process_releases(WORKER_HOST) == [first_release] * 2
    ROWS[-1]["note"] = f"back to {first_release[:12]} on both app hosts and the worker host"
    assert ROWS[-1]["failed"] == 0


def main_pids() -> dict[tuple[str, str], str]:
    """The main PID of each app host's web service and of each of the worker host's workers."""
    units = [(host, "reference-app.service") for host in APP_HOSTS]
    units += [(WORKER_HOST, f"{unit}.service") for unit in WORKERS]
    return {
        (host, unit): sh(host, f"systemctl show -p MainPID --value {unit}").stdout
        for host, unit in units
    }


SETTINGS = (
    "/srv/reference-app/shared/env",
    "/srv/reference-app/shared/gunicorn.conf.py",
    "/etc/systemd/system/reference-app.service",
    "/srv/reference-app/restart-pending",
)


def settings_of(host: str) -> dict[str, str]:
    """The app's settings files on a host (a missing one as ''), and its gunicorn master."""
    files = {path: sh(host, f"cat {path} 2>/dev/null").stdout for path in SETTINGS}
    files["MainPID"] = sh(host, "systemctl show -p MainPID --value reference-app.service").stdout
    return files


def test_a_setting_that_fails_on_the_first_host_goes_back_and_spares_the_others() -> None:
    app1, app2 = APP_HOSTS
    before = {host: settings_of(host) for host in APP_HOSTS}
    runs: list[Run] = []
    # A module that does not exist: gunicorn.conf.py changes, the app never gets ready.
    bad = ["--tags", "app,deploy", "-e", "app_module=app.main:nope", "-e", "app_ready_timeout=10"]
    measure(
        "site.yml with a setting that fails readiness",
        lambda: runs.append(playbook("site.yml", *bad)) or "",
    )
    assert runs[0].rc != 0
    assert 'wsgi_app = "app.main:nope"' in runs[0].out, runs[0].out[-3000:]
    assert "Back to the last good settings, ready again." in runs[0].out, runs[0].out[-3000:]
    after = {host: settings_of(host) for host in APP_HOSTS}
    # The first host ran the bad settings, went back to its files and restarted on them.
    assert {k: v for k, v in after[app1].items() if k != "MainPID"} == {
        k: v for k, v in before[app1].items() if k != "MainPID"
    }
    assert after[app1]["MainPID"] != before[app1]["MainPID"]
    # The second never restarted and keeps no settings waiting for a restart.
    assert after[app2] == before[app2], {k: (before[app2][k], after[app2][k]) for k in SETTINGS}
    ROWS[-1]["note"] = (
        f"{app1} back on its settings, {app2} untouched, rollout stopped; "
        f"{app1} back in rotation {back_in_rotation(app1, time.time()):.0f} s later"
    )
    assert ROWS[-1]["failed"] == 0


def test_a_process_that_does_not_stay_up_goes_back_with_its_settings() -> None:
    """The app layer alone (--tags app,deploy): the worker's command changes to one that does
    not exist, so the worker host's restart on the changed settings fails and its old unit comes
    back; the app hosts, which do not run it, change nothing."""
    unit = "/etc/systemd/system/reference-app-worker@.service"
    before, releases = sh(WORKER_HOST, f"cat {unit}").stdout, process_releases(WORKER_HOST)
    process = {"name": "worker", "command": ["app-worker-missing"], "group": "worker"}
    process["instances"] = len(WORKERS)
    bad = ["--tags", "app,deploy"]
    bad += ["-e", json.dumps({"app_processes": [process]})]
    runs: list[Run] = []
    measure(
        "site.yml with a process that does not start",
        lambda: runs.append(playbook("site.yml", *bad)) or "",
    )
    assert runs[0].rc != 0
    assert "did not stay up" in runs[0].out, runs[0].out[-3000:]
    assert "app-worker-missing" in runs[0].out, runs[0].out[-3000:]
    assert "Back to the last good settings" in runs[0].out, runs[0].out[-3000:]
    # The old unit, its workers running again on their release, no restart left pending.
    assert sh(WORKER_HOST, f"cat {unit}").stdout == before
    active = sh(WORKER_HOST, f"systemctl is-active {' '.join(WORKERS)}").stdout.split()
    assert active == ["active"] * len(WORKERS)
    assert process_releases(WORKER_HOST) == releases
    assert sh(WORKER_HOST, "test -e /srv/reference-app/restart-pending").returncode != 0
    ROWS[-1]["note"] = f"{WORKER_HOST} back on its worker unit, workers on {releases[0][:12]}"
    assert ROWS[-1]["failed"] == 0


def held(host: str) -> str:
    return sh(host, "apt-config dump Unattended-Upgrade::Package-Blacklist").stdout


def test_servers_are_held_from_unattended_upgrades_and_upgraded_drained() -> None:
    assert '"^nginx"' in held("fleet-web1")
    assert '"^postgresql"' in held("fleet-data1") and '"^redis-server$"' in held("fleet-data1")
    assert all('"^python3[.][0-9]+"' in held(host) for host in APP_HOSTS)
    before = main_pids()
    nginx = sh("fleet-web1", "systemctl show -p MainPID --value nginx").stdout
    runs: list[Run] = []
    # Forced: every app and worker host drained and restarted, batch by batch (the rollout
    # restart.yml runs, with the packages before it; molecule:app runs restart.yml only as far as
    # the deploy lock refuses it), and nginx's binary swapped, even with nothing new.
    measure(
        "upgrade.yml (forced restarts)",
        lambda: runs.append(playbook("playbooks/upgrade.yml", "-e", "upgrade_restart=true")) or "",
    )
    assert runs[0].rc == 0, runs[0].out[-5000:]
    after = main_pids()
    assert all(before[unit] != after[unit] for unit in before), (before, after)
    assert sh("fleet-web1", "systemctl show -p MainPID --value nginx").stdout != nginx
    assert sh("fleet-web1", "systemctl is-active nginx").stdout.strip() == "active"
    ROWS[-1]["note"] = (
        "new gunicorn master on both app hosts, new workers on the worker host, "
        "nginx's binary swapped in place"
    )
    assert ROWS[-1]["failed"] == 0


def test_the_worker_and_the_scheduled_job_run_on_their_hosts() -> None:
    app1, app2 = APP_HOSTS
    # The worker process on the worker group's host only, which runs no web process.
    for host in APP_HOSTS:
        assert sh(host, "systemctl cat reference-app-worker@.service").returncode != 0, host
    assert sh(WORKER_HOST, "systemctl cat reference-app.service").returncode != 0
    # The job on the first app host only.
    assert sh(app1, "systemctl is-active reference-app-prune.timer").stdout.strip() == "active"
    assert sh(app2, "systemctl cat reference-app-prune.timer").returncode != 0
    assert sh(WORKER_HOST, "systemctl cat reference-app-prune.timer").returncode != 0
    # What the timer starts, started now: the prune command in the current release.
    run = sh(app1, "systemctl start reference-app-prune.service")
    assert run.returncode == 0, run.stderr
    journal = sh(app1, "journalctl -u reference-app-prune.service -n 5 --no-pager").stdout
    assert "deleted " in journal, journal


def test_status_reports_every_host(first_release: str) -> None:
    run = playbook("playbooks/status.yml")
    assert run.rc == 0, run.out[-3000:]
    assert all(host in run.out for host in SITE_HOSTS)
    assert run.out.count(f"serving={first_release}") == len(APP_HOSTS), run.out[-2000:]
    assert "certs=reference-app:" in run.out and "down=none" in run.out, run.out[-2000:]
    # The worker host's workers and their release; the job's timer and last run on the first
    # app host only.
    workers = ["worker@1.service=active", "worker@2.service=active"]
    workers += [f"processes=worker@1:{first_release},worker@2:{first_release}"]
    assert all(run.out.count(word) == 1 for word in workers), run.out[-2000:]
    assert re.search(rf"{WORKER_HOST} +worker: current={first_release} ", run.out), run.out[-2000:]
    assert run.out.count("prune.timer=active") == 1 and "jobs=prune:success@" in run.out
    # The last good backup (site.yml took the first) and the archive's lag; the backup host's side.
    backups = r"backup=\d{8}-\d{6}F\S*\(\d+[.]\d+h\) archive_lag=\d+s"
    assert re.search(backups, run.out), run.out[-2000:]
    repository = rf"{BACKUP_HOST} +backup: [^']*server[.]service=active"
    assert re.search(repository, run.out), run.out[-2000:]
    row("status.yml", run.seconds, "releases, units, workers' releases, jobs, certs, backups")


def test_every_job_enqueued_so_far_ran_exactly_once() -> None:
    """Through deploys, a failed deploy, a rollback, restarts and upgrades: each job the API
    accepted ran once, none lost when its worker was stopped, none twice."""
    accepted = {r["detail"] for r in LOAD.records(0, time.time()) if r["kind"] == "job" and r["ok"]}
    query = "SELECT job_id || ' ' || runs FROM job_runs WHERE job_id LIKE 'load-%'"
    started, runs = time.monotonic(), {}
    while time.monotonic() - started < 60:  # the queue drains at a second per job per worker
        out = sh("fleet-data1", f'runuser -u postgres -- psql -d app -Atc "{query}"').stdout
        runs = dict(line.split() for line in out.splitlines() if line.strip())
        if accepted <= set(runs):
            break
        time.sleep(2)
    missing = accepted - set(runs)
    twice = {job: count for job, count in runs.items() if count != "1"}
    row("jobs through the rollouts", time.monotonic() - started,
        f"{len(accepted)} accepted, {len(accepted) - len(missing)} ran, "
        f"{len(missing)} lost, {len(twice)} ran more than once")  # fmt: skip
    assert accepted and not missing and not twice, (sorted(missing)[:5], twice)


def test_logs_merges_the_app_and_worker_hosts_journals_by_time() -> None:
    run = playbook("playbooks/logs.yml", "-e", "logs_since=-30min", "-e", "logs_lines=300")
    assert run.rc == 0, run.out[-3000:]
    stamp = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}) (fleet-(?:app\d|data1)) (\S+)"
    entries = re.findall(stamp, run.out)
    assert {host for _, host, _ in entries} == {*APP_HOSTS, WORKER_HOST}, run.out[-3000:]
    assert [when for when, _, _ in entries] == sorted(when for when, _, _ in entries)
    # The one-off run that created the load's user (fleetlib.load_token), by its process name.
    runs = playbook("playbooks/logs.yml", "-e", "logs_process=run")
    assert runs.rc == 0, runs.out[-3000:]
    assert re.search(r"fleet-app1 reference-app-run-", runs.out), runs.out[-3000:]
    row("logs.yml", run.seconds, f"{len(entries)} lines of the app and worker hosts, by time")


# ---------------------------------------------------------------- 6. the fault matrix

# What each kind of the load's traffic needs besides an app host (load.py, the app's design).
NEEDS = {
    "version": set(),
    "read": {"PostgreSQL"},  # the list is cached in Redis, but each write invalidates it
    "write": {"PostgreSQL"},  # stored first; announcing it over Redis is best effort
    "job": {"PostgreSQL", "Redis"},  # the token's user is read, the job queued in Redis
    "ws": {"PostgreSQL", "Redis"},  # posts a message, then waits for its announcement
}
# When an app host is lost, nginx retries idempotent requests on the other one, never a POST it
# has sent (it may have been applied), and the WebSockets the host held close: those need it.
APP_HOST = "an app host"
for kind in ("write", "job", "ws"):
    NEEDS[kind].add(APP_HOST)
# After the part is back, every kind of request answers again within this many seconds.
RECOVERY = 2.0

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

# Every packet in or out of a host dropped, as when its network is cut (the fleet's own
# nftables ruleset stays as it is: this is a table of its own, removed afterwards).
CUT = "nft add table inet lab_cut && " + " && ".join(
    f"nft add chain inet lab_cut {hook} '{{ type filter hook {hook} priority -300; policy drop; }}'"
    for hook in ("input", "output")
)

# nginx's default for an upstream server: after a failed attempt, each nginx worker (they do
# not share this state) skips the server for 10 s.
FAIL_TIMEOUT = 10
APP1_READY: list[float] = []


def under_way(record: dict, start: float, end: float) -> bool:
    """Whether the request was under way at some instant between start and end."""
    return record["t"] <= end and record["t"] + record["ms"] / 1000 >= start


def fault(step: str, part: str, break_it: Callable[[], None], mend_it: Callable[[], str]) -> None:
    """Breaks a part of the site under load, mends it, and adds the row: failed requests by
    kind and how long after the part was back each kind still failed. Kinds that do not need
    the part lose no request; every kind answers again within RECOVERY seconds."""
    broke: list[float] = []
    back: list[float] = []
    said: list[str] = []

    def incident() -> str:
        sh(CLIENT, "cat > /root/ready_poller.py", stdin=READY_POLLER)
        subprocess.run(
            ["docker", "exec", "-d", CLIENT, "python3", "/root/ready_poller.py", "15"], check=True
        )
        broke.append(time.time())
        break_it()
        broke.append(time.time())
        said.append(mend_it())
        back.append(time.time())
        time.sleep(5)  # what needed the part recovers
        return ""

    records = measure(step, incident)
    failed: dict[str, int] = {}
    late: dict[str, float] = {}
    for kind in sorted(KINDS):
        rows = [r for r in records if r["kind"] == kind]
        failed[kind] = sum(not r["ok"] for r in rows)
        late[kind] = max((r["t"] - back[0] for r in rows if not r["ok"]), default=0.0)
    # A request under way on the part at the instant it broke needed it, whatever its route: a
    # response a killed worker had begun sending cannot be retried on another host. Every other
    # request of a route that does not need the part must succeed.
    cut = {
        kind: sum(
            not r["ok"] and under_way(r, broke[0], broke[1]) for r in records if r["kind"] == kind
        )
        for kind in KINDS
    }
    note = ", ".join(f"{kind} {count}" for kind, count in failed.items())
    if any(cut.values()):
        note += (
            " (under way when it broke: " + ", ".join(f"{k} {n}" for k, n in cut.items() if n) + ")"
        )
    lateness = ", ".join(f"{k} {s:.1f} s" for k, s in late.items() if s > 0) or "none"
    ROWS[-1]["note"] = f"{said[0]}failed by kind: {note}; failing after it was back: {lateness}"
    spared = {kind for kind in KINDS if part not in NEEDS[kind]}
    assert all(failed[kind] - cut[kind] == 0 for kind in spared), (spared, ROWS[-1]["note"])
    assert all(seconds <= RECOVERY for seconds in late.values()), ROWS[-1]["note"]


def data_unit(action: str, unit: str) -> Callable[[], None]:
    return lambda: assert_ok(sh("fleet-data1", f"systemctl {action} {unit}"))


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr


def stopped_for_5_s(unit: str) -> Callable[[], str]:
    def mend() -> str:
        time.sleep(5)
        assert_ok(sh("fleet-data1", f"systemctl start {unit}"))
        return ""

    return mend


def test_postgresql_stopped_for_5_s() -> None:
    fault(
        "PostgreSQL stopped for 5 s", "PostgreSQL",
        data_unit("stop", "postgresql"), stopped_for_5_s("postgresql"),
    )  # fmt: skip


def test_redis_stopped_for_5_s() -> None:
    fault(
        "Redis stopped for 5 s", "Redis",
        data_unit("stop", "redis-server"), stopped_for_5_s("redis-server"),
    )  # fmt: skip


def test_postgresql_restarted() -> None:
    fault("PostgreSQL restarted", "PostgreSQL", lambda: None,
          lambda: data_unit("restart", "postgresql")() or "")  # fmt: skip


def test_kill_9_of_the_gunicorn_master() -> None:
    def kill() -> None:
        sh("fleet-app1", "kill -9 $(systemctl show -p MainPID --value reference-app.service)")

    def ready() -> str:
        seconds = wait_ready("fleet-app1")
        APP1_READY.append(time.time())
        return f"systemd restarted it, ready after {seconds:.0f} s; "

    fault("kill -9 gunicorn master (app1)", APP_HOST, kill, ready)
    assert sh("fleet-app1", "systemctl is-active reference-app.service").stdout.strip() == "active"


def test_network_of_an_app_host_cut_for_10_s() -> None:
    # A separate incident: app1 is back in every nginx worker's rotation first (see below).
    time.sleep(max(0.0, APP1_READY[-1] + FAIL_TIMEOUT + 1 - time.time()))

    def mend() -> str:
        time.sleep(10)
        assert_ok(sh("fleet-app1", "nft delete table inet lab_cut"))
        APP1_READY.append(time.time())
        return ""

    fault("network of app1 cut for 10 s", APP_HOST, lambda: assert_ok(sh("fleet-app1", CUT)), mend)


def test_reboot_of_an_app_host() -> None:
    # A separate incident: app1 is back in the rotation of every nginx worker before app2 goes
    # down. Attempts fail only until app1 is ready, so every worker's mark is over FAIL_TIMEOUT
    # later (one worker's answer from app1 would not say the others are past theirs).
    time.sleep(max(0.0, APP1_READY[-1] + FAIL_TIMEOUT + 1 - time.time()))

    def reboot() -> str:
        subprocess.run(["docker", "restart", "fleet-app2"], check=True, capture_output=True)
        # A VPS boots with /proc/sys writable; Docker's restart mounts it read-only again
        # (playbooks/lab/fleet.yml makes it writable at creation), so the boot's sysctl.d is
        # applied again below, as the VPS would have.
        sh("fleet-app2", "mount -o remount,rw /proc/sys")
        ready = wait_ready("fleet-app2")
        assert sh("fleet-app2", "systemctl restart systemd-sysctl").returncode == 0
        return f"all units back by themselves, ready after {ready:.0f} s"

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


# ---------------------------------------------------------------- 7. firewall matrix


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
        # no TCP port on the worker host, which runs no web process
        ("fleet-web1", WORKER, 8000): False,
        # PostgreSQL and Redis from the app hosts (and the worker host, theirs) only
        ("fleet-app1", DATA, 5432): True,
        ("fleet-app1", DATA, 6379): True,
        ("fleet-app2", DATA, 5432): True,
        ("fleet-app2", DATA, 6379): True,
        ("fleet-web1", DATA, 5432): False,
        ("fleet-web1", DATA, 6379): False,
        # pgBackRest's TLS servers, each to the other side only
        ("fleet-data1", BACKUP, 8432): True,
        (BACKUP_HOST, DATA, 8432): True,
        ("fleet-app1", BACKUP, 8432): False,
        ("fleet-app2", BACKUP, 8432): False,
        ("fleet-app2", DATA, 8432): False,
        ("fleet-web1", BACKUP, 8432): False,
        (CLIENT, BACKUP, 8432): False,
    }
    started = time.monotonic()
    # At once: a closed port costs its probe's whole 3 s timeout (the firewall drops, it does
    # not refuse).
    with concurrent.futures.ThreadPoolExecutor(len(expected)) as pool:
        seen = dict(zip(expected, pool.map(lambda case: reachable(*case), expected), strict=True))
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


def test_maintenance_answers_the_app_routes_and_keeps_health_up() -> None:
    """After the load: the app's routes are meant to answer 503 meanwhile. /health is probed
    all along, from before maintenance goes on until after it is off."""
    curl = "curl -s -o /dev/null --cacert /root/fleet-ca.pem -w '%{http_code}\\n'"
    loop = f"do {curl} https://www.fleet.test/health; sleep 0.05; done"
    probe = subprocess.Popen(
        ["docker", "exec", CLIENT, "sh", "-c",
         f"rm -f /root/probe.stop; while [ ! -e /root/probe.stop ]; {loop}"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        on = playbook("playbooks/maintenance.yml", "-e", "state=on")
        assert on.rc == 0, on.out[-3000:]
        api = sh(CLIENT, "curl -s -D- -o /dev/null --cacert /root/fleet-ca.pem "
                         "https://www.fleet.test/api/messages").stdout.lower()  # fmt: skip
        assert api.startswith("http/2 503") and "retry-after: 300" in api, api
        assert "strict-transport-security" in api, api
        off = playbook("playbooks/maintenance.yml", "-e", "state=off")
        assert off.rc == 0, off.out[-3000:]
        back = sh(CLIENT, f"{curl} https://www.fleet.test/api/messages").stdout.strip()
        assert back == "200", back
    finally:
        sh(CLIENT, "touch /root/probe.stop")
        codes = probe.communicate(timeout=30)[0].split()
    failed = [code for code in codes if code != "200"]
    ROWS.append({"step": "maintenance.yml on, then off", "seconds": round(on.seconds + off.seconds),
                 "requests": len(codes), "failed": len(failed),
                 "note": "app routes 503 + Retry-After; requests: /health"})  # fmt: skip
    assert codes and not failed, failed[:10]


# ---------------------------------------------------------------- 8. backups and restores


class Writer:
    """Rows written one at a time into a table of the app database on the db host, each
    acknowledged (id and time) before the next: what a restore must bring back."""

    def __init__(self, table: str, pace: float = 0.25) -> None:
        self.table, self.pace = table, pace
        self.acked: list[tuple[int, float]] = []
        self._stop, self._paused = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Writer":
        columns = "id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp()"
        assert_ok(psql(f"DROP TABLE IF EXISTS {self.table}; CREATE TABLE {self.table} ({columns})"))
        self._thread.start()
        return self

    def _run(self) -> None:
        insert = f"INSERT INTO {self.table} DEFAULT VALUES RETURNING id, extract(epoch FROM at)"
        while not self._stop.is_set():
            if not self._paused.is_set():
                done = psql(insert)
                if done.returncode == 0 and "|" in done.stdout:
                    row_id, at = done.stdout.strip().split("|")
                    self.acked.append((int(row_id), float(at)))
            time.sleep(self.pace)

    def quiet_moment(self) -> tuple[str, float]:
        """A time no write is near: the writer pauses around it. As PostgreSQL writes it, and
        in seconds since the epoch."""
        self._paused.set()
        time.sleep(0.5)
        now = psql("SELECT t::text || '|' || extract(epoch FROM t) FROM clock_timestamp() t")
        time.sleep(0.5)
        self._paused.clear()
        text, epoch = now.stdout.strip().split("|")
        return text, float(epoch)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def restore(target: str) -> Run:
    confirmed = json.dumps({"restore_target": target, "restore_confirm": target})
    return playbook("playbooks/restore.yml", "-e", confirmed)


def restored_ids(table: str) -> list[int]:
    out = psql(f"SELECT id FROM {table} ORDER BY id")
    assert out.returncode == 0, out.stderr
    return [int(line) for line in out.stdout.split()]


def test_a_restore_the_deployed_release_cannot_run_on_is_refused_before_any_change() -> None:
    """The schema at the target is not the one the release expects: refused after the
    rehearsal, with the app never stopped and no maintenance page."""
    head = psql("SELECT version_num FROM alembic_version").stdout.strip()
    assert head, "no alembic_version in the app database"
    writer = Writer("schema_probe").start()
    assert_ok(psql("UPDATE alembic_version SET version_num = 'an_older_revision'"))
    target, _ = writer.quiet_moment()
    assert_ok(psql(f"UPDATE alembic_version SET version_num = '{head}'"))
    writer.stop()
    before = main_pids()
    run = restore(target)
    assert run.rc != 0
    assert re.search(rf"expects schema\s+revision\s+{head}", run.out), run.out[-3000:]
    assert "an_older_revision" in run.out, run.out[-3000:]
    assert "PLAY [Restore | the maintenance page on the web hosts]" not in run.out
    assert main_pids() == before
    assert psql("SELECT version_num FROM alembic_version").stdout.strip() == head
    row("restore.yml to a schema the release does not expect", run.seconds,
        "refused after the rehearsal; nothing stopped, no maintenance page")  # fmt: skip


def test_a_restore_while_a_rollout_runs_is_refused_before_any_change() -> None:
    """Another run holds the deploy lock on one app host: refused before the maintenance page,
    with the app never stopped and no lock of this run's left on the other hosts. The same when
    the lock of one host cannot be taken (as when another run takes it at the same instant): the
    locks this run took on the others are given back."""
    lock = "/srv/reference-app/deploy.lock"
    held, *others = APP_HOSTS
    before = main_pids()
    # Held: found before this run takes any. Lost: the taking fails on that host alone (a
    # directory where the lock file goes stands in for a run that took it at the same instant).
    for case, make_lock, expected in [
        (
            "holds the deploy lock",
            f"echo 'a rollout in progress' > {lock}",
            "a rollout in progress",
        ),
        (
            "takes one host's lock first",
            f"mkdir {lock}",
            f"Another run took the deploy lock on {held}",
        ),
    ]:
        assert_ok(sh(held, make_lock))
        try:
            run = restore("latest")
        finally:
            sh(held, f"rm -rf {lock}")
        assert run.rc != 0, case
        assert expected in run.out, (case, run.out[-3000:])
        assert "PLAY [Restore | the maintenance page on the web hosts]" not in run.out, case
        assert main_pids() == before, case
        for host in [*others, WORKER_HOST]:
            assert_ok(sh(host, f"test ! -e {lock}"))
        row(f"restore.yml while another run {case}", run.seconds,
            "refused before the maintenance page; nothing stopped, no lock left")  # fmt: skip


def test_a_point_in_time_restore_brings_back_every_row_before_it_and_none_after() -> None:
    writer = Writer("restore_probe").start()
    time.sleep(2)
    backup = playbook("playbooks/backup.yml")
    assert backup.rc == 0, backup.out[-3000:]
    time.sleep(2)
    target, target_epoch = writer.quiet_moment()
    time.sleep(3)
    writer.stop()
    before = [row_id for row_id, at in writer.acked if at < target_epoch]
    after = [row_id for row_id, at in writer.acked if at > target_epoch]
    assert before and after, writer.acked
    assert_ok(psql("DROP TABLE restore_probe"))  # the accident
    run = restore(target)
    assert run.rc == 0, run.out[-5000:]
    assert restored_ids("restore_probe") == before
    assert re.search(r"which the release\s+deployed expects", run.out), run.out[-3000:]
    # Back in service: every app host ready, the maintenance page gone.
    assert all(served_release(host) for host in APP_HOSTS)
    api = sh(CLIENT, "curl -s -o /dev/null -w '%{http_code}' --cacert /root/fleet-ca.pem "
                     "https://www.fleet.test/api/messages").stdout  # fmt: skip
    assert api == "200", api
    # The deploy lock kept rollouts away while the app was stopped, and is gone again.
    assert "Lock | take the deploy lock" in run.out, run.out[-3000:]
    for host in APP_HOSTS:
        assert_ok(sh(host, "test ! -e /srv/reference-app/deploy.lock"))
    row("restore.yml to a point in time (table dropped)", run.seconds,
        f"{len(before)} rows written before it back, none of the {len(after)} after; "
        "a safety backup first, the app ready again")  # fmt: skip


def test_a_broken_repository_fails_the_backup_and_someone_hears_of_it() -> None:
    started = time.monotonic()
    sh(BACKUP_HOST, "rm -f /var/tmp/backup-alert")
    try:
        assert_ok(sh(BACKUP_HOST, "chmod 000 /var/lib/pgbackrest"))
        run = sh(BACKUP_HOST, "systemctl start pgbackrest-backup@diff.service")
        assert run.returncode != 0
        # The command writes its first line before the journal's: wait for the whole of it.
        alert = ""
        while time.monotonic() - started < 30 and "ERROR" not in alert:
            alert = sh(BACKUP_HOST, "cat /var/tmp/backup-alert 2>/dev/null").stdout
            time.sleep(0.5)
    finally:
        sh(BACKUP_HOST, "chmod 0750 /var/lib/pgbackrest && systemctl reset-failed")
    assert f"pgbackrest-backup@diff.service failed on {BACKUP_HOST}" in alert, alert
    assert "ERROR" in alert, alert  # the unit's journal lines came with it
    row("backup with an unreadable repository", time.monotonic() - started,
        "the unit failed, the notification ran with its journal lines")  # fmt: skip


def test_a_lost_db_host_comes_back_from_the_backup_host_alone() -> None:
    """Writes go on until the db host's container is destroyed; a new, empty one is bootstrapped,
    set up by site.yml and restored from the backup host: every acknowledged row up to the last
    archived WAL is back, in order, and the loss (RPO) is measured."""
    archive_timeout = 15  # inventories/local: pgbackrest_archive_timeout
    writer = Writer("loss_probe").start()
    time.sleep(archive_timeout + 5)
    subprocess.run(["docker", "rm", "-f", WORKER_HOST], check=True, capture_output=True)
    writer.stop()
    started = time.monotonic()
    steps = [
        ("playbooks/lab/fleet.yml", "--tags", "hosts"),
        ("playbooks/bootstrap.yml", "--limit", WORKER_HOST),
        ("site.yml",),
    ]
    for step in steps:
        run = playbook(*step)
        assert run.rc == 0, (step, run.out[-5000:])
    assert "holds the backups of another cluster" in run.out, run.out[-3000:]
    run = restore("latest")
    assert run.rc == 0, run.out[-5000:]
    acked = [row_id for row_id, _ in writer.acked]
    back = restored_ids("loss_probe")
    # Every row up to the last archived WAL, in order; at most one committed the instant the
    # host went, before its acknowledgment arrived.
    assert back[: len(acked)] == acked[: len(back)] and len(back) <= len(acked) + 1, (back, acked)
    at = dict(writer.acked)
    rpo = writer.acked[-1][1] - at[back[-1]] if back[-1] in at else 0.0
    row("db host destroyed, rebuilt by site.yml, restore.yml latest", time.monotonic() - started,
        f"{len(back)} of {len(acked)} acknowledged rows back, in order; "
        f"RPO {rpo:.1f} s (archive_timeout {archive_timeout} s)")  # fmt: skip
    assert rpo <= archive_timeout + 10, rpo
    assert all(served_release(host) for host in APP_HOSTS)
