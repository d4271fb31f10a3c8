"""Benchmarks of the whole product on the local fleet, written up as bench/report.md and
bench/timeline.png. One run, from a fresh fleet, on this machine:

shipping  bootstrap.yml, site.yml on new hosts, site.yml again twice (their spread is the
          machine's noise), without SSH pipelining (the before of that choice) and with
          Mitogen's strategy (measured, not used), then under load deploy.yml (code only), a
          release that fails readiness, rollback.yml and restart.yml; each with the controller's
          and the hosts' CPU time, and profile_tasks names the slowest tasks.
timeline  requests/s, failures and p99 per second of the load (tests/fleet/load.py) across
          those rollouts, each phase marked.
serving   wrk against a cached read, a database write and /health on (a) one uvicorn process,
          (b) gunicorn with the role's rendered config on its systemd socket, (c) nginx over
          HTTPS to both app hosts; latency at a fixed moderate rate for (b) and (c); worker
          count and event loop variants, the evidence for the defaults.
security  systemd-analyze security of each service, sslyze against Mozilla's intermediate
          profile, TCP ports open from outside the fleet (nmap on fleet-client), Lynis'
          hardening index before and after the base role.
builds    release build time on this controller alone, no fleet: each fixture app
          (tests/apps) and the reference app, cold and warm, with the collection's
          plugins/plugin_utils/app_release.py and with the pip-based builder it replaced (as
          of commit 4c23044).

Figures are printed and written, never judged pass/fail. The headline and the shipping table set
each figure beside the one of the report this run replaces (read from bench/report.md).
Usage: make bench (about 35 minutes); scripts/bench/bench.py --help for one phase at a time.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ansible_mitogen

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "fleet"))
# The fleet's helpers live with its tests.
from fleetlib import (
    APP_HOSTS,
    CACHE,
    CLIENT,
    DATA,
    LOAD_PASSWORD,
    PROJECT,
    SITE_HOSTS,
    WEB,
    Load,
    Run,
    load_token,
    percentile,
    playbook,
    served_release,
    sh,
)

OUT = PROJECT / "bench"
RAW = CACHE / "bench.json"
APP1, APP1_ADDRESS = "fleet-app1", APP_HOSTS["fleet-app1"]
WEB1 = "fleet-web1"
# The port spelled out: fleet-client has no /etc/services to look "https" up in.
SITE = "https://www.fleet.test:443"
RELEASE = "/srv/reference-app/current"
# The app's environment, minus the metrics directory the service uses (an extra gunicorn's
# on_starting would wipe it).
APP_ENV = "set -a && . /srv/reference-app/shared/env && PROMETHEUS_MULTIPROC_DIR=/tmp/bench-metrics"
ENDPOINTS = {
    "cached read": "/api/messages?limit=20",
    "database write": "/api/messages",
    "/health": "/health",
}
WRK = "wrk -t2 -c32 -d10s --latency"
LOAD = Load()
results: dict[str, Any] = {}


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def must(process: subprocess.CompletedProcess, what: str) -> str:
    if process.returncode:
        raise SystemExit(f"{what} failed ({process.returncode}): {process.stderr[-2000:]}")
    return process.stdout


def apt_install(container: str, *packages: str) -> None:
    command = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
    must(sh(container, command + " ".join(packages)), f"apt-get install on {container}")


# ------------------------------------------------------------------------------ shipping


SLOW_TASK = re.compile(r"^(\S.*?) -{3,} +(\d+\.\d+)s$", re.M)


def slowest_tasks(run: Run, count: int = 5) -> list[tuple[str, float]]:
    found = [(name.strip(), float(seconds)) for name, seconds in SLOW_TASK.findall(run.out)]
    return sorted(found, key=lambda item: -item[1])[:count]


PROFILE_CLOCK = re.compile(r"\(\d+:\d+:[\d.]+\)\s+(\d+):(\d+):([\d.]+)")


def play_seconds(run: Run) -> list[tuple[str, float]]:
    """Seconds per play, from the running clock profile_tasks prints before every task."""
    marks: list[tuple[str, float]] = []
    play, clock = None, 0.0
    for line in run.out.splitlines():
        if line.startswith("PLAY ["):
            play = line[6 : line.index("]")]
            continue
        found = PROFILE_CLOCK.search(line)
        if found:
            hours, minutes, seconds = found.groups()
            clock = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
            if play is not None:
                marks.append((play, clock))
                play = None
    ends = [start for _, start in marks[1:]] + [clock]
    return [(name, round(end - start, 1)) for (name, start), end in zip(marks, ends, strict=True)]


HOST_RESULTS = re.compile(r"^\S+\s*:\s*ok=(\d+)\s.*\sskipped=(\d+)", re.M)


def hosts_cpu_seconds() -> float | None:
    """CPU time the site's containers have used so far (their cgroups, systemd's children
    included), or None where this machine's cgroup layout is not one of Docker's two."""
    ids = subprocess.run(
        ["docker", "inspect", "--format", "{{.Id}}", *SITE_HOSTS],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    total = 0.0
    for container in ids:
        v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{container}/cpuacct.usage")
        v2 = Path(f"/sys/fs/cgroup/system.slice/docker-{container}.scope/cpu.stat")
        if v1.exists():
            total += int(v1.read_text()) / 1e9
        elif v2.exists():
            usage = dict(line.split() for line in v2.read_text().splitlines())
            total += int(usage["usage_usec"]) / 1e6
        else:
            return None
    return total if ids else None


def timed(
    step: str, path: str, *extra: str, expect_ok: bool = True, env: dict[str, str] | None = None
) -> Run:
    say(f"{step}: ansible-playbook {path} {' '.join(extra)}")
    # Where a run's time goes: this controller's CPU (ansible-playbook, its workers and their
    # SSH clients) against the hosts' CPU (the modules, and the load's requests when it runs).
    controller_before = os.times()
    hosts_before = hosts_cpu_seconds()
    run = playbook(path, *extra, env=env)
    controller_after = os.times()
    hosts_after = hosts_cpu_seconds()
    controller = (controller_after.children_user - controller_before.children_user) + (
        controller_after.children_system - controller_before.children_system
    )
    hosts = None if hosts_before is None or hosts_after is None else hosts_after - hosts_before
    # Every task's result on every host, skipped ones included: the controller forks a worker
    # for each.
    host_results = sum(int(ok) + int(skipped) for ok, skipped in HOST_RESULTS.findall(run.out))
    if (run.rc == 0) != expect_ok:
        raise SystemExit(f"{step}: unexpected rc {run.rc}\n{run.out[-4000:]}")
    changed = run.changed()
    # A run of some phases (--phases) replaces the last run's row of a step it measures again.
    others = [row for row in results.get("shipping", []) if row["step"] != step]
    results["shipping"] = [
        *others,
        {
            "step": step,
            "seconds": round(run.seconds, 1),
            "changed": sum(changed.values()),
            "controller_cpu": round(controller, 1),
            "hosts_cpu": None if hosts is None else round(hosts, 1),
            "host_results": host_results,
            "slowest": slowest_tasks(run),
            "plays": play_seconds(run),
        },
    ]
    say(f"{step}: {run.seconds:.0f} s, changed={sum(changed.values())}")
    return run


def lynis_index(container: str) -> int:
    # Lynis exits non-zero when it has warnings; the report file holds the index either way.
    sh(container, "rm -f /var/log/lynis-report.dat; lynis audit system --quick --no-colors")
    report = sh(container, "grep '^hardening_index=' /var/log/lynis-report.dat").stdout
    if "=" not in report:
        raise SystemExit(f"Lynis wrote no hardening index on {container}")
    return int(report.strip().split("=")[1])


def ship() -> None:
    say("a fresh fleet")
    for state in ("absent", "present"):
        run = playbook("playbooks/lab/fleet.yml", "-e", f"fleet_state={state}")
        if run.rc:
            raise SystemExit(run.out[-3000:])
    # The figures are a plain Debian host's: without the lab images' cache of the code Ansible's
    # modules compile (scripts/lab/image/lab_zipimport_cache.py).
    for host in SITE_HOSTS:
        must(sh(host, "rm -rf /var/cache/lab-zipimport"), f"removing {host}'s zipimport cache")
    say("Lynis on fresh fleet-app1 (before the base role)")
    apt_install(APP1, "lynis")
    results["lynis_before"] = lynis_index(APP1)

    timed("bootstrap.yml (as root)", "playbooks/bootstrap.yml")
    fresh = timed("site.yml, fresh hosts", "site.yml")
    assert set(fresh.changed()) >= set(SITE_HOSTS)
    timed("site.yml again", "site.yml")
    # The same run once more: the spread between the two is this machine's noise.
    timed("site.yml again, repeated", "site.yml")
    timed("site.yml again, SSH pipelining off", "site.yml", env={"ANSIBLE_PIPELINING": "False"})
    # Mitogen's strategy, measured and not used: it runs the modules in a Python kept alive on
    # each host. The interpreter is named: its discovery hands a delegated task the
    # delegating host's Python (python3.13 on a Debian 12 host).
    strategies = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    try:
        timed(
            "site.yml again, Mitogen's strategy",
            "site.yml",
            env={
                "ANSIBLE_STRATEGY_PLUGINS": str(strategies),
                "ANSIBLE_STRATEGY": "mitogen_linear",
                "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
            },
        )
    except SystemExit as failure:  # a figure missing, not the benchmark
        say(f"site.yml with Mitogen's strategy failed, no row: {str(failure)[-1500:]}")


def rollouts() -> None:
    """The timeline: the load runs while the rollouts do; each phase is marked."""
    LOAD.start(load_token())
    phases: list[dict[str, Any]] = []

    def phase(name: str, action: Callable[[], object]) -> None:
        started = time.time()
        action()
        phases.append({"name": name, "start": started, "end": time.time()})

    first = served_release(APP1)
    phase("steady", lambda: time.sleep(10))
    phase(
        "deploy",
        lambda: timed(
            "deploy.yml (code only)", "playbooks/deploy.yml", "-e", "app_release_id=bench-r2"
        ),
    )
    bad = [
        "-e",
        "app_release_id=bench-r3-unready",
        "-e",
        "app_ready_timeout=10",
        "-e",
        '{"app_release_env": {"APP_REDIS_URL": "redis://127.0.0.1:1/0"}}',
    ]
    phase(
        "failing release",
        lambda: timed(
            "deploy.yml, release failing readiness", "playbooks/deploy.yml", *bad, expect_ok=False
        ),
    )
    phase("rollback", lambda: timed("rollback.yml", "playbooks/rollback.yml"))
    phase("restart", lambda: timed("restart.yml", "playbooks/restart.yml"))
    phase("steady ", lambda: time.sleep(10))
    time.sleep(3)
    LOAD.stop()
    records = LOAD.records(phases[0]["start"], phases[-1]["end"])
    results["timeline"] = {"phases": phases, "records": records}
    results["served_after_rollback"] = {host: served_release(host) for host in APP_HOSTS}
    results["first_release"] = first


# ------------------------------------------------------------------------------- serving


WRK_LINE = {
    "rps": re.compile(r"Requests/sec:\s+([\d.]+)"),
    "p50": re.compile(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", re.M),
    "p99": re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.M),
    "non2xx": re.compile(r"Non-2xx or 3xx responses:\s+(\d+)"),
    "errors": re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"),
}
TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(container: str, url: str, script: str = "", command: str = WRK) -> dict[str, float]:
    out = must(sh(container, f"{command} {script} '{url}'"), f"wrk {url}")
    figures: dict[str, float] = {"rps": round(float(WRK_LINE["rps"].search(out).group(1)))}
    for key in ("p50", "p99"):
        value, unit = WRK_LINE[key].search(out).groups()
        figures[key] = round(float(value) * TO_MS[unit], 2)
    non2xx = WRK_LINE["non2xx"].search(out)
    errors = WRK_LINE["errors"].search(out)
    figures["errors"] = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(n) for n in errors.groups()) if errors else 0
    )
    return figures


def warm_wrk(container: str, url: str, script: str = "", command: str = WRK) -> dict[str, float]:
    """The figures of a second wrk run; the first warms caches, connections, lazy imports."""
    wrk(container, url, script, command)
    return wrk(container, url, script, command)


def endpoints(container: str, base: str) -> dict[str, dict[str, float]]:
    figures = {}
    for name, path in ENDPOINTS.items():
        script = "-s /root/write.lua" if name == "database write" else ""
        figures[name] = warm_wrk(container, base + path, script)
        say(f"  {base}{path}: {figures[name]}")
    return figures


def background(container: str, command: str, port: int) -> None:
    """Starts a server as the app user and waits until it answers on 127.0.0.1:port."""
    sh(container, "rm -rf /tmp/bench-metrics && install -d -o app /tmp/bench-metrics")
    wrapped = (
        f"cd {RELEASE} && runuser -u app -- sh -c '{APP_ENV} && exec {command}' >/dev/null 2>&1"
    )
    subprocess.run(["docker", "exec", "-d", container, "sh", "-c", wrapped], check=True)
    for _ in range(60):
        probe = f"curl -sf -o /dev/null http://127.0.0.1:{port}/health"
        if sh(container, probe).returncode == 0:
            return
        time.sleep(0.5)
    raise SystemExit(f"{command} did not answer on port {port}")


def stop_background(container: str, command: str, port: int) -> None:
    # pkill, not fuser: root in these containers cannot read the app user's /proc/<pid>/fd.
    # The process's own command line starts at venv/bin/ (an `env X=Y` prefix is gone).
    sh(container, f"pkill -TERM -f -- '{command[command.index('venv/bin/') :]}'")
    free = f"ss -Hltn 'sport = {port}' | grep -q . || exit 0"
    waited = sh(container, f"for i in $(seq 50); do {free}; sleep 0.2; done; exit 1")
    if waited.returncode:
        raise SystemExit(f"{command} still listens on port {port}")


def gunicorn_variant(workers: int, port: int = 9100) -> str:
    """Writes the role's rendered config, on a spare port with its own control socket and
    `workers` workers, to a file of its own; returns the command that serves it."""
    path = f"/tmp/bench-gunicorn-{workers}.conf.py"  # noqa: S108 - inside fleet-app1
    conf = (
        f"exec(open('/srv/reference-app/shared/gunicorn.conf.py').read())\n"
        f"bind = ['127.0.0.1:{port}']\nworkers = {workers}\naccesslog = None\n"
        "control_socket = '/tmp/bench-gunicorn.ctl'\nworker_tmp_dir = '/dev/shm'\n"
    )
    sh(APP1, f"cat > {path} && chmod 644 {path}", conf)
    return f"env APP_DB_POOL_MAX_SIZE=4 venv/bin/gunicorn -c {path}"


# The same offered load for (a) and (c): these shares of (a)'s maximum on the cached read.
PACED_SHARES = (0.5, 0.9)
PACED_CONNECTIONS = 64
PACED_WRK = f"wrk -t2 -c{PACED_CONNECTIONS} -d10s --latency"
PACE = "-s /root/pace.lua"
ACCESS_LOG = "/var/log/nginx/reference-app.access.log"


def seconds(value: object) -> float:
    """An nginx timing ("0.012", or "0.010, 0.004" when a request was tried twice), summed."""
    return sum(float(part) for part in str(value).split(",") if part.strip() not in ("", "-"))


def tail_of_access_log() -> dict[str, float]:
    """Where the slowest 1% of (c)'s requests spent their time, from nginx's access log: in
    the app (upstream response), waiting to connect to it (a dropped SYN shows as a connect of
    1 s or more: the kernel's first retransmit), or in nginx and TLS (the rest)."""
    lines = must(sh(WEB1, f"cat {ACCESS_LOG}"), "the access log").splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    entries.sort(key=lambda entry: float(entry["request_time"]))
    slowest = entries[-max(1, len(entries) // 100) :]
    times = [float(entry["request_time"]) for entry in entries]

    def mean_ms(key: str) -> float:
        return round(1000 * statistics.mean(seconds(e.get(key, 0)) for e in slowest), 1)

    return {
        "requests": len(entries),
        "p99_ms": round(1000 * percentile(times, 0.99), 1),
        "slowest_request_ms": mean_ms("request_time"),
        "slowest_upstream_ms": mean_ms("upstream_response_time"),
        "slowest_connect_ms": mean_ms("upstream_connect_time"),
        "connects_over_1s": sum(seconds(e.get("upstream_connect_time", 0)) >= 1 for e in entries),
    }


def serve() -> None:
    say("serving: wrk on fleet-client and fleet-app1")
    token = load_token(f"bench-{int(time.time())}@fleet.test")
    rate = str(Path(__file__).with_name("rate.py"))
    pace = str(Path(__file__).with_name("pace.lua"))
    for container in (CLIENT, APP1):
        apt_install(container, "wrk")
        subprocess.run(["docker", "cp", pace, f"{container}:/root/pace.lua"], check=True)
        lua = (
            'wrk.method = "POST"\nwrk.body = \'{"body": "bench"}\'\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        )
        sh(container, "cat > /root/write.lua", lua)
        subprocess.run(["docker", "cp", rate, f"{container}:/root/rate.py"], check=True)
    serving: dict[str, Any] = {}

    say("(a) one uvicorn process")
    uvicorn = "venv/bin/uvicorn app.main:app --host 127.0.0.1 --port 9001"
    background(APP1, uvicorn, 9001)
    serving["a"] = endpoints(APP1, "http://127.0.0.1:9001")

    say("(b) gunicorn with the role's config, on its systemd socket")
    serving["b"] = endpoints(APP1, f"http://{APP1_ADDRESS}:8000")

    say("(c) nginx over HTTPS on fleet-web1, to both app hosts")
    serving["c"] = endpoints(CLIENT, SITE)
    # One more cached-read run, alone in nginx's access log.
    sh(WEB1, f": > {ACCESS_LOG}")
    wrk(CLIENT, SITE + ENDPOINTS["cached read"])
    serving["c_tail"] = tail_of_access_log()
    say(f"  where (c)'s slowest requests spent their time: {serving['c_tail']}")

    # wrk's connections each send their next request as soon as the last is answered, so each
    # server above ran at its own maximum; a p99 compares fairly only at one offered load.
    say("same offered load: (a) and (c) paced at shares of (a)'s maximum, cached read")
    paced = []
    for share in PACED_SHARES:
        rate = max(1, round(serving["a"]["cached read"]["rps"] * share))
        row: dict[str, Any] = {"share": share, "rate": rate}
        for key, container, base in (("a", APP1, "http://127.0.0.1:9001"), ("c", CLIENT, SITE)):
            command = f"WRK_RATE={rate} WRK_CONNECTIONS={PACED_CONNECTIONS} {PACED_WRK}"
            row[key] = warm_wrk(container, base + ENDPOINTS["cached read"], PACE, command)
        paced.append(row)
        say(f"  {row}")
    serving["paced"] = paced
    stop_background(APP1, uvicorn, 9001)

    say("fixed rate: 50 requests/s for 20 s on one kept-alive connection")
    fixed = {}
    for name, path in (("cached read", ENDPOINTS["cached read"]), ("/health", "/health")):
        b = sh(APP1, f"python3 /root/rate.py 'http://{APP1_ADDRESS}:8000{path}' 50 20")
        c = sh(CLIENT, f"python3 /root/rate.py '{SITE}{path}' 50 20 /root/fleet-ca.pem")
        fixed[name] = {"b": json.loads(must(b, "rate.py")), "c": json.loads(must(c, "rate.py"))}
        say(f"  {name}: {fixed[name]}")
    serving["fixed"] = fixed

    say("tuning: uvicorn's event loop and HTTP parser, cached read on fleet-app1")
    uvicorn = "env APP_DB_POOL_MAX_SIZE=4 venv/bin/uvicorn app.main:app --port 9001"
    variants = [
        ("uvicorn, asyncio + h11", f"{uvicorn} --loop asyncio --http h11"),
        ("uvicorn, uvloop + httptools", f"{uvicorn} --loop uvloop --http httptools"),
    ]
    tuning = []
    for label, command in variants:
        background(APP1, command, 9001)
        url = f"http://127.0.0.1:9001{ENDPOINTS['cached read']}"
        tuning.append({"variant": label} | warm_wrk(APP1, url))
        stop_background(APP1, command, 9001)
        say(f"  {tuning[-1]}")
    serving["tuning"] = tuning
    results["serving"] = serving


# The worker count's evidence: each count from 1 to the guides' 2 * cores + 1, against an
# endpoint of each kind. The app host's cores are this machine's (containers share them).
# A token costs an argon2 hash (about 0.2 s of CPU, in a thread): 4 connections keep its
# queue within wrk's 2 s timeout.
WORKER_ENDPOINTS = {
    "cached read (Redis, JSON)": ("/api/messages?limit=20", "", WRK),
    "database write (PostgreSQL)": ("/api/messages", "-s /root/write.lua", WRK),
    "token (argon2, CPU)": ("/api/auth/token", "-s /root/token.lua", "wrk -t2 -c4 -d10s --latency"),
}


def workers() -> None:
    cores = os.cpu_count() or 1
    say(f"workers: gunicorn with 1 to {2 * cores + 1} uvicorn workers on fleet-app1")
    email = f"bench-workers-{int(time.time())}@fleet.test"
    token = load_token(email)
    apt_install(APP1, "wrk")
    lua = {
        "write.lua": (
            'wrk.method = "POST"\nwrk.body = \'{"body": "bench"}\'\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        ),
        "token.lua": (
            'wrk.method = "POST"\n'
            f'wrk.body = "username={email.replace("@", "%40")}&password={LOAD_PASSWORD}"\n'
            'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        ),
    }
    for name, script in lua.items():
        sh(APP1, f"cat > /root/{name}", script)
    rows = []
    for count in range(1, 2 * cores + 2):
        command = gunicorn_variant(count)
        background(APP1, command, 9100)
        for endpoint, (path, script, wrk_command) in WORKER_ENDPOINTS.items():
            figures = warm_wrk(APP1, f"http://127.0.0.1:9100{path}", script, wrk_command)
            # The master's and its workers' resident memory after each endpoint (the runuser
            # and sh that started them name the config too).
            rss = sh(APP1, f"ps -o rss=,args= -p $(pgrep -d, -f bench-gunicorn-{count}.conf) "
                     "| grep -v -e runuser -e 'sh -c' | awk '{s+=$1} END {print s}'")  # fmt: skip
            figures["rss_mib"] = round(int(must(rss, "ps").strip() or 0) / 1024)
            rows.append({"workers": count, "endpoint": endpoint} | figures)
            say(f"  {rows[-1]}")
        stop_background(APP1, command, 9100)
    results["workers"] = {"cores": cores, "rows": rows}


# ------------------------------------------------------------------------------ security


SERVICES = {
    "fleet-web1": ["nginx.service", "certbot.service", "ssh.service"],
    "fleet-app1": ["reference-app.service", "ssh.service"],
    "fleet-app2": ["reference-app.service", "ssh.service"],
    "fleet-data1": ["postgresql@15-main.service", "redis-server.service", "ssh.service"],
}
EXPOSURE = re.compile(r"Overall exposure level for (\S+): ([\d.]+) (\w+)")


def security() -> None:
    say("security: systemd-analyze security")
    exposure = []
    for host, units in SERVICES.items():
        for unit in units:
            out = sh(host, f"systemd-analyze security --no-pager {unit} | tail -n 1").stdout
            found = EXPOSURE.search(out)
            if found:
                exposure.append(
                    {
                        "host": host,
                        "unit": unit,
                        "exposure": float(found.group(2)),
                        "rating": found.group(3),
                    }
                )
    results["exposure"] = exposure

    say("security: sslyze against Mozilla's intermediate profile")
    root = CACHE / "fleet-ca.pem"
    subprocess.run(["docker", "cp", f"{CLIENT}:/root/fleet-ca.pem", str(root)], check=True)
    sslyze = Path(sys.executable).parent / "sslyze"
    scan = subprocess.run(
        [
            str(sslyze),
            "--mozilla_config=intermediate",
            f"--certinfo_ca_file={root}",
            f"www.fleet.test:443{{{WEB}}}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    verdict = re.search(r"www\.fleet\.test:443: (.*)", scan.stdout)
    results["sslyze"] = verdict.group(1).strip() if verdict else scan.stdout[-500:]

    say("security: nmap of every TCP port from fleet-client")
    apt_install(CLIENT, "nmap")
    targets = {WEB: "fleet-web1", **{a: h for h, a in APP_HOSTS.items()}, DATA: "fleet-data1"}
    scan_out = must(
        sh(CLIENT, f"nmap -Pn -p- -T4 --min-rate 4000 --open -oG - {' '.join(targets)}"), "nmap"
    )
    open_ports = dict.fromkeys(targets.values(), "")
    for address, ports in re.findall(r"Host: (\S+) .*?Ports: (.*)", scan_out):
        listed = ports.split("\t")[0]  # before "Ignored State: filtered (...)"
        open_ports[targets[address]] = ", ".join(p.split("/")[0] for p in listed.split(", "))
    results["open_ports"] = open_ports

    say("security: Lynis on fleet-app1 after site.yml")
    results["lynis_after"] = lynis_index(APP1)


# -------------------------------------------------------------------------------- builds


BUILDER = PROJECT / "ansible_collections/fastapi_vps/stack/plugins/plugin_utils/app_release.py"
# The builder before releases came from the app's own lock: pip only, no --project, no lock.
OLD_BUILDER = "4c23044"
OLD_BUILDER_PATH = "roles/app/files/app_release.py"  # where it was then
VENV_BIN = PROJECT / ".venv" / "bin"  # its Python, and the uv the new builder runs
BUILD_TARGET = "3.11.2-x86_64-2.36"  # Debian 12's Python on the fleet's hosts
# Fixture: (--source, --project). The old builder has no --project and gets the same --source.
BUILD_APPS = {
    "workspace (uv.lock)": (PROJECT / "tests" / "apps" / "workspace", "backend"),
    "plain (requirements.txt)": (PROJECT / "tests" / "apps" / "plain", "."),
    "poetry (poetry.lock)": (PROJECT / "tests" / "apps" / "poetry", "."),
    "reference app (pyproject.toml)": (PROJECT, "."),
}


def failure_reason(output: str) -> str:
    """The one line that says why a build failed, without its scratch paths."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR:")]
    line = (errors or lines or ["no output"])[0]
    return re.sub(r" ?'/[^']*'", "", line)[:200]


def release_pins(artifact: str) -> dict[str, str]:
    """name -> version of a release's requirements.txt (both builders write one)."""
    with tarfile.open(artifact) as tar:
        member = next(m for m in tar if m.name.removeprefix("./") == "requirements.txt")
        file = tar.extractfile(member)
        text = file.read().decode() if file else ""
    pins = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, version = line.split(" ")[0].split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def time_build(argv: list[str], scratch: Path) -> dict[str, Any]:
    """Cold (empty release and tool caches) and warm (the same command again, twice: the
    median) seconds of one builder on one app, or why it failed."""
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env |= {"UV_CACHE_DIR": str(scratch / "uv"), "PIP_CACHE_DIR": str(scratch / "pip")}
    command = [str(VENV_BIN / "python"), *argv, "--cache", str(scratch / "cache")]
    seconds, out = [], {}
    for _ in range(3):
        started = time.monotonic()
        try:
            process = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        except subprocess.TimeoutExpired:
            return {"fails": "still building after 900 s"}
        seconds.append(round(time.monotonic() - started, 1))
        if process.returncode:
            return {"fails": failure_reason(f"{process.stderr}\n{process.stdout}")}
        out = json.loads(process.stdout.splitlines()[-1])
    pins = release_pins(next(iter(out["artifacts"].values())))
    if "unknown" in pins:  # setuptools' name for a project it found no metadata of
        return {"fails": "packs an empty UNKNOWN-0.0.0 wheel and no dependencies"}
    return {"cold": seconds[0], "warm": statistics.median(seconds[1:]), "pins": pins}


def builds() -> None:
    say(f"builds: {len(BUILD_APPS)} apps, old builder ({OLD_BUILDER}) and new, on this machine")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-builds-") as scratch:
        old = Path(scratch) / "app_release.py"
        # It used none of its siblings in roles/app/files (those were the app server's).
        show = ["git", "-C", str(PROJECT), "show", f"{OLD_BUILDER}:{OLD_BUILDER_PATH}"]
        old.write_text(must(subprocess.run(show, capture_output=True, text=True), "git show"))
        for index, (app, (source, project)) in enumerate(BUILD_APPS.items()):
            name, target = f"bench-{index}", f"--target={BUILD_TARGET}"
            common = ["--name", name, "--source", str(source), target]
            row: dict[str, Any] = {"app": app}
            for builder, argv in (
                ("old", [str(old), *common]),
                ("new", [str(BUILDER), *common, "--project", project]),
            ):
                work = Path(scratch) / f"{builder}{index}"
                row[builder] = time_build(argv, work)
                # Every app starts cold, and /tmp keeps one app's caches at a time.
                shutil.rmtree(work, ignore_errors=True)
                shown = {k: v for k, v in row[builder].items() if k != "pins"}
                say(f"  {app}, {builder}: {shown}")
            rows.append(row)
    results["builds"] = {"target": BUILD_TARGET, "old": OLD_BUILDER, "apps": rows}


# -------------------------------------------------------------------------------- report


def machine(fleet: bool = True) -> dict[str, str]:
    """This machine; without the fleet, the Docker version is the last fleet run's (a build
    benchmark may run where Docker is busy, or absent)."""
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    memory = re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text())
    docker = results.get("machine", {}).get("docker", "not used")
    if fleet:
        docker = subprocess.run(
            ["docker", "version", "-f", "{{.Server.Version}}"], capture_output=True, text=True
        ).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": f"{os.cpu_count()} x {cpu.group(1) if cpu else platform.processor()}",
        "memory": f"{int(memory.group(1)) // 1024 // 1024} GiB" if memory else "?",
        "kernel": platform.release(),
        "docker": docker,
    }


def per_second(records: list[dict], start: float, end: float) -> dict[str, list[float]]:
    seconds = range(int(end - start))  # whole seconds: a partial last one would dip
    buckets: list[list[dict]] = [[] for _ in seconds]
    for record in records:
        index = int(record["t"] - start)
        if 0 <= index < len(buckets):
            buckets[index].append(record)
    latencies = [sorted(r["ms"] for r in bucket if r["ok"]) for bucket in buckets]
    return {
        "t": list(seconds),
        "ok": [sum(r["ok"] for r in bucket) for bucket in buckets],
        "failed": [sum(not r["ok"] for r in bucket) for bucket in buckets],
        "p99": [percentile(values, 0.99) if values else 0.0 for values in latencies],
    }


def plot(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timeline = results["timeline"]
    start, end = timeline["phases"][0]["start"], timeline["phases"][-1]["end"]
    series = per_second(timeline["records"], start, end)
    figure, axes = plt.subplots(3, 1, figsize=(12, 7), sharex=True)
    axes[0].plot(series["t"], series["ok"], color="tab:green", linewidth=1)
    axes[0].set_ylabel("answered / s")
    axes[1].bar(series["t"], series["failed"], color="tab:red", width=1.0)
    axes[1].set_ylabel("failed / s")
    axes[1].set_ylim(0, max(1, *series["failed"]) * 1.2)
    axes[2].plot(series["t"], series["p99"], color="tab:blue", linewidth=1)
    axes[2].set_ylabel("p99 ms")
    axes[2].set_xlabel("seconds")
    shades = ["#f2f2f2", "#dde8f5"]
    for index, phase in enumerate(timeline["phases"]):
        left, right = phase["start"] - start, phase["end"] - start
        for axis in axes:
            axis.axvspan(left, right, color=shades[index % 2], zorder=0)
        axes[0].text(
            (left + right) / 2,
            1.02,
            phase["name"].strip(),
            ha="center",
            va="bottom",
            transform=axes[0].get_xaxis_transform(),
            fontsize=9,
        )
    figure.suptitle(
        "Load through nginx over HTTPS during deploy, a failing release, rollback and restart",
        y=0.995,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    # Task names hold "|" (role : Part | step): escaped, or they would split the cell.
    lines += [
        "| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows
    ]
    return "\n".join(lines)


def builds_section() -> list[str]:
    """Release builds, or which figures are missing: the phase needs no fleet and may not
    have run with the others."""
    head = ["## Release builds", ""]
    command = "`scripts/bench/bench.py --phases builds`"
    if "builds" not in results:
        return [*head, f"No figures yet: {command} measures them.", ""]
    figures = results["builds"]

    def cell(build: dict[str, Any], key: str) -> object:
        if "fails" in build:
            return f"fails: {build['fails']}" if key == "cold" else "—"
        return build[key]

    notes = []
    for row in figures["apps"]:
        old, new = row["old"].get("pins"), row["new"].get("pins")
        if old and new:
            both = sorted(set(old) & set(new))
            moved = [name for name in both if old[name] != new[name]]
            notes.append(
                f"- {row['app']}: the old builder's versions differ from the new one's for "
                f"{len(moved)} of the {len(both)} packages both hold"
                + (f" ({', '.join(moved[:6])}{', ...' if len(moved) > 6 else ''})" if moved else "")
                + "."
            )
    return [
        *head,
        f"Seconds to build one release for `{figures['target']}` (Debian 12) on this machine, "
        f"with plugins/plugin_utils/app_release.py (new) and with the pip-based builder of commit "
        f"{figures['old']} (old), given the same `--source` (the old one has no `--project`). "
        "Cold: an empty release cache and empty uv and pip caches, so every download and "
        "build happens; warm: the same command right after, with the caches the cold run "
        "left (the median of two), where both builders find the release already built and "
        "only hash the source. Measured by " + command + ".",
        "",
        table(
            ["fixture", "old cold s", "old warm s", "new cold s", "new warm s"],
            [
                [
                    row["app"],
                    *(cell(row[b], k) for b in ("old", "new") for k in ("cold", "warm")),
                ]
                for row in figures["apps"]
            ],
        ),
        "",
        "The old builder resolves the app's declared dependencies afresh with pip, whatever lock "
        "the app has; the new one installs the lock's versions (a requirements file or "
        "pyproject without a lock is resolved with uv):",
        "",
        *notes,
        "",
    ]


def workers_section() -> list[str]:
    """The worker count's evidence (the workers phase), when a run has measured it."""
    if "workers" not in results:
        return []
    measured = results["workers"]
    counts = sorted({row["workers"] for row in measured["rows"]})
    cell = {(row["workers"], row["endpoint"]): row for row in measured["rows"]}
    header = ["workers"]
    for endpoint in WORKER_ENDPOINTS:
        header += [f"{endpoint} req/s", "p99 ms", "MiB after"]
    lines = []
    for count in counts:
        line: list[object] = [count]
        for endpoint in WORKER_ENDPOINTS:
            row = cell.get((count, endpoint), {})
            line += [row.get("rps", ""), row.get("p99", ""), row.get("rss_mib", "")]
        lines.append(line)
    return [
        f"### Worker count ({measured['cores']} cores; gunicorn with the role's config on "
        "fleet-app1, wrk there to 127.0.0.1; MiB: the master's and workers' resident memory "
        "after that endpoint's runs)",
        "",
        table(header, lines),
        "",
    ]


def paced_section(serving: dict[str, Any]) -> list[str]:
    """(a) and (c) at the same offered load, and where (c)'s slowest requests spent their
    time, when a run has measured them."""
    if "paced" not in serving:
        return []
    tail = serving["c_tail"]
    return [
        "### The same offered load",
        "",
        f"Each server above ran at its own maximum, (c) at {serving['c']['cached read']['rps']} "
        f"requests/s and (a) at {serving['a']['cached read']['rps']}, so their p99s measure "
        "different queues. Here both are offered the same rate: `pace.lua` has each of "
        f"wrk's {PACED_CONNECTIONS} connections wait a random pause after each response.",
        "",
        table(
            [
                "offered /s",
                "(a) req/s",
                "(c) req/s",
                "(a) p50/p99 ms",
                "(c) p50/p99 ms",
                "errors a/c",
            ],
            [
                [
                    f"{row['rate']} ({row['share']:.0%} of (a)'s maximum)",
                    row["a"]["rps"],
                    row["c"]["rps"],
                    f"{row['a']['p50']} / {row['a']['p99']}",
                    f"{row['c']['p50']} / {row['c']['p99']}",
                    f"{row['a']['errors']}/{row['c']['errors']}",
                ]
                for row in serving["paced"]
            ],
        ),
        "",
        f"Where (c)'s slowest 1% went at its maximum, in one more run of the cached read "
        f"(nginx's access log: {tail['requests']} requests, p99 {tail['p99_ms']} ms as nginx "
        f"measures it, from the request's first byte): {tail['slowest_request_ms']} ms a "
        f"request on average, of which {tail['slowest_upstream_ms']} ms in the app "
        f"(connecting to it {tail['slowest_connect_ms']} ms); {tail['connects_over_1s']} "
        "connections to the app took 1 s or more (a dropped SYN waits out the kernel's 1 s "
        "retransmit).",
        "",
    ]


def previous_report() -> dict[str, dict[str, str]]:
    """The rows of the report this run replaces, by their first cell (a figure, a run, a
    machine fact), each a mapping of its table's header to its cell: the "before" beside this
    run's figures."""
    path = OUT / "report.md"
    rows: dict[str, dict[str, str]] = {}
    header: list[str] = []
    for line in path.read_text().splitlines() if path.exists() else []:
        if not line.startswith("|"):
            header = []
        elif not line.startswith("|---"):
            cells = re.split(r"(?<!\\)\|", line[1:-1])
            cells = [cell.strip().replace("\\|", "|") for cell in cells]
            if not header:
                header = cells
            else:
                rows.setdefault(cells[0], dict(zip(header, cells, strict=False)))
    return rows


def report() -> str:
    m, serving, ship_rows = results["machine"], results["serving"], results["shipping"]
    by_step = {row["step"]: row for row in ship_rows}
    fresh = by_step["site.yml, fresh hosts"]["seconds"]
    read_a, read_c = serving["a"]["cached read"], serving["c"]["cached read"]
    fixed = serving["fixed"]["cached read"]
    overhead = fixed["c"]["p50_ms"] / fixed["b"]["p50_ms"] - 1
    # Each run's share of the fresh site.yml, and the most it should take.
    shares = [
        (figure, step, by_step[step]["seconds"] / fresh, limit)
        for figure, step, limit in (
            ("second site.yml / fresh", "site.yml again", 0.20),
            ("code-only deploy.yml / fresh", "deploy.yml (code only)", 0.25),
            ("rollback.yml / fresh", "rollback.yml", 0.10),
            ("restart.yml / fresh", "restart.yml", 0.10),
        )
    ]
    again = [
        by_step[step]["seconds"]
        for step in ("site.yml again", "site.yml again, repeated")
        if step in by_step
    ]
    before = results.get("before", {})

    def was(key: str, *columns: str) -> str:
        """The report before's cell for this row, from the first of these columns it has."""
        row = before.get(key, {})
        return next((row[column] for column in columns if column in row), "")

    timeline = results["timeline"]
    phases_rows = []
    for phase in timeline["phases"]:
        inside = [r for r in timeline["records"] if phase["start"] <= r["t"] <= phase["end"]]
        latencies = sorted(r["ms"] for r in inside)
        phases_rows.append(
            [
                phase["name"].strip(),
                round(phase["end"] - phase["start"]),
                len(inside),
                sum(not r["ok"] for r in inside),
                percentile(latencies, 0.5) if latencies else "",
                percentile(latencies, 0.99) if latencies else "",
            ]
        )
    total = len(timeline["records"])
    failed = sum(not r["ok"] for r in timeline["records"])

    def goal(ok: bool) -> str:
        return "met" if ok else "**not met**"

    def headline(figure: str, now: str, target: str) -> list[str]:
        """A headline row: the figure, its value in the report before, now, and its goal."""
        return [figure, was(figure, "now", "value"), now, target]

    parts = [
        "# Benchmark report",
        "",
        "Written by `make bench` (scripts/bench/bench.py) from one run on the local fleet: "
        "every host is a systemd container on this one machine, so the figures compare "
        "set-ups with each other, not with dedicated servers.",
        "",
        table(["", ""], [[key, value] for key, value in m.items()]),
        "",
        "## Headline",
        "",
        f"Before: the report this one replaced ({was('date', '') or 'none'}), same machine type.",
        "",
        table(
            ["figure", "before", "now", "goal"],
            [
                headline(
                    "(c)/(a) requests/s, cached read",
                    f"{read_c['rps'] / read_a['rps']:.2f}x",
                    f"≥ 1.3x: {goal(read_c['rps'] >= 1.3 * read_a['rps'])}",
                ),
                headline(
                    "(c) p99 vs (a) p99, cached read, each at its maximum",
                    f"{read_c['p99']} ms vs {read_a['p99']} ms",
                    "",
                ),
                *(
                    headline(
                        f"(c) p99 vs (a) p99, cached read, both offered {row['share']:.0%} "
                        "of (a)'s maximum",
                        f"{row['c']['p99']} ms vs {row['a']['p99']} ms at {row['rate']}/s",
                        f"no worse: {goal(row['c']['p99'] <= row['a']['p99'])}",
                    )
                    for row in serving.get("paced", [])
                ),
                headline(
                    "nginx + TLS over (b), p50 at 50 requests/s",
                    f"{overhead:+.0%}",
                    f"≤ +20%: {goal(overhead <= 0.2)}",
                ),
                *(
                    [
                        figure,
                        was(figure, "now", "value") or was(step, "of fresh"),
                        f"{share:.0%}",
                        f"≤ {limit:.0%}: {goal(share <= limit)}",
                    ]
                    for figure, step, share, limit in shares
                ),
                headline(
                    "requests failed during the rollouts",
                    f"{failed} of {total}",
                    f"0: {goal(failed == 0)}",
                ),
                headline(
                    "Lynis hardening index, fleet-app1",
                    f"{results['lynis_before']} → {results['lynis_after']}",
                    "",
                ),
            ],
        ),
        "",
        "Noise: the second `site.yml`, run twice in a row on the same fleet, took "
        + " s and ".join(f"{seconds:.0f}" for seconds in again)
        + f" s ({(max(again) - min(again)) / min(again):.0%} apart).",
        "",
        "## Serving",
        "",
        f"`{WRK}` (after a warm-up run of the same), one endpoint at a time. (a) `uvicorn "
        "app.main:app`, one process, wrk on the same host; (b) gunicorn with the role's "
        "`gunicorn.conf.py` (2 uvicorn workers, access log to journald) on its systemd socket "
        "at the private address, wrk on the same host; (c) nginx on fleet-web1 over HTTPS, "
        "to the two app hosts, wrk on fleet-client. The write is an authenticated POST that "
        "inserts a row and invalidates the cached list. Each ran at its own maximum; the "
        'comparison of (a) and (c) at one offered load is under "The same offered load".',
        "",
        table(
            [
                "endpoint",
                "(a) req/s",
                "(b) req/s",
                "(c) req/s",
                "(c)/(a)",
                "(c)/(b)",
                "(a) p50/p99 ms",
                "(b) p50/p99 ms",
                "(c) p50/p99 ms",
                "errors a/b/c",
            ],
            [
                [
                    name,
                    serving["a"][name]["rps"],
                    serving["b"][name]["rps"],
                    serving["c"][name]["rps"],
                    f"{serving['c'][name]['rps'] / serving['a'][name]['rps']:.2f}",
                    f"{serving['c'][name]['rps'] / serving['b'][name]['rps']:.2f}",
                    *(f"{serving[k][name]['p50']} / {serving[k][name]['p99']}" for k in "abc"),
                    "/".join(str(serving[k][name]["errors"]) for k in "abc"),
                ]
                for name in ENDPOINTS
            ],
        ),
        "",
        "Latency when the server is not busy: 50 requests/s for 20 s on one kept-alive "
        "connection (scripts/bench/rate.py), (b) from the app host, (c) from fleet-client.",
        "",
        table(
            ["endpoint", "(b) p50 ms", "(c) p50 ms", "(b) p99 ms", "(c) p99 ms", "failed b/c"],
            [
                [
                    name,
                    v["b"]["p50_ms"],
                    v["c"]["p50_ms"],
                    v["b"]["p99_ms"],
                    v["c"]["p99_ms"],
                    f"{v['b']['failed']}/{v['c']['failed']}",
                ]
                for name, v in serving["fixed"].items()
            ],
        ),
        "",
        *paced_section(serving),
        "### Tuning evidence (cached read, wrk on fleet-app1 to 127.0.0.1)",
        "",
        table(
            ["variant", "req/s", "p50 ms", "p99 ms", "errors"],
            [[t["variant"], t["rps"], t["p50"], t["p99"], t["errors"]] for t in serving["tuning"]],
        ),
        "",
        *workers_section(),
        "## Shipping",
        "",
        "Wall-clock time of each playbook from this machine over SSH; the rollouts ran under "
        "the load of the timeline below. `changed` sums the recap over the hosts; `host "
        "results` counts every task's result on every host, skipped ones included (the "
        "controller forks a worker for each). CPU, in seconds on this 2-core machine: the "
        "controller's (ansible-playbook, its workers and their SSH clients) and the site's "
        "hosts' (their containers' cgroups: the modules, and the load's requests during the "
        "rollouts).",
        "",
        table(
            [
                "run",
                "seconds before",
                "seconds",
                "of fresh",
                "changed",
                "host results",
                "controller CPU s",
                "hosts CPU s",
                "slowest tasks (s)",
            ],
            [
                [
                    row["step"],
                    was(row["step"], "seconds"),
                    row["seconds"],
                    f"{row['seconds'] / fresh:.0%}",
                    row["changed"],
                    row.get("host_results", ""),
                    row.get("controller_cpu", ""),
                    "" if row.get("hosts_cpu") is None else row["hosts_cpu"],
                    "; ".join(f"{name} {sec:.0f}" for name, sec in row["slowest"][:3]),
                ]
                for row in ship_rows
            ],
        ),
        "",
        "Where the second `site.yml` spends its time, play by play (every host of a play "
        "runs in parallel; the plays run one after another):",
        "",
        table(["play", "seconds"], by_step["site.yml again"].get("plays", [])),
        "",
        *builds_section(),
        "## Zero-downtime timeline",
        "",
        "tests/fleet/load.py on fleet-client: cached reads, `/version`, authenticated writes "
        "and WebSocket sessions that must receive their own message, each request on a new "
        "TLS connection through nginx.",
        "",
        "![timeline](timeline.png)",
        "",
        table(["phase", "seconds", "requests", "failed", "p50 ms", "p99 ms"], phases_rows),
        "",
        f"After the rollback both app hosts serve `{results['first_release'][:12]}`: "
        f"{results['served_after_rollback']}.",
        "",
        "## Security scorecard",
        "",
        table(
            ["host", "service", "systemd-analyze exposure", "rating"],
            [[e["host"], e["unit"], e["exposure"], e["rating"]] for e in results["exposure"]],
        ),
        "",
        f"- sslyze, Mozilla intermediate profile, www.fleet.test: {results['sslyze']}",
        f"- Lynis hardening index of fleet-app1: {results['lynis_before']} on the fresh "
        f"container, {results['lynis_after']} after site.yml.",
        "- TCP ports open to fleet-client, a host outside the site, every port scanned with nmap:",
        "",
        table(["host", "open ports"], [[h, p or "none"] for h, p in results["open_ports"].items()]),
        "",
    ]
    return "\n".join(parts)


PHASES: dict[str, Callable[[], None]] = {
    "ship": ship,
    "rollouts": rollouts,
    "serve": serve,
    "workers": workers,
    "security": security,
    "builds": builds,
}
# Phases that run on this controller alone: they leave the fleet and Docker be.
FLEETLESS = {"builds"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help="comma-separated subset of %(default)s; later phases need the fleet the earlier "
        "ones left (builds needs none), and the other figures come from the last run",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="re-render the report from the last run"
    )
    args = parser.parse_args()
    phases = [name for name in args.phases.split(",") if name]
    if unknown := set(phases) - set(PHASES):
        parser.error(f"unknown phases: {sorted(unknown)}")
    if RAW.exists() and (args.report_only or phases != list(PHASES)):
        results.update(json.loads(RAW.read_text()))
    if not args.report_only:
        if "ship" in phases:
            results["before"] = previous_report()
        results["machine"] = machine(fleet=not set(phases) <= FLEETLESS)
        say(f"benchmark run on {results['machine']}")
        RAW.parent.mkdir(parents=True, exist_ok=True)  # made by the fleet's runs, else here
        for name in phases:
            PHASES[name]()
            RAW.write_text(json.dumps(results))  # a later failure keeps what was measured
    missing = [key for key in ("shipping", "timeline", "serving", "exposure") if key not in results]
    if missing:
        raise SystemExit(f"figures kept in {RAW}; no report until a run measures {missing}")
    OUT.mkdir(exist_ok=True)
    plot(OUT / "timeline.png")
    (OUT / "report.md").write_text(report())
    say(f"wrote {OUT / 'report.md'} and {OUT / 'timeline.png'} (raw figures: {RAW})")


if __name__ == "__main__":
    main()
