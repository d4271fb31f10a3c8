"""What the fleet's tests and benchmarks share: running playbooks, commands in the fleet's
containers, the release a host serves, and the load generator on fleet-client."""

import json
import math
import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
CACHE = PROJECT / ".cache" / "fleet"
INVENTORY = PROJECT / "inventories" / "local"
APP_HOSTS = {"fleet-app1": "10.231.0.21", "fleet-app2": "10.231.0.22"}
WEB, DATA, CLIENT = "10.231.0.10", "10.231.0.30", "fleet-client"
# The worker group: the app's processes only, on the data host.
WORKER_HOST, WORKER = "fleet-data1", DATA
# pgBackRest's repository, on a host of its own.
BACKUP_HOST, BACKUP = "fleet-backup1", "10.231.0.40"
SITE_HOSTS = ["fleet-web1", "fleet-app1", "fleet-app2", "fleet-data1", BACKUP_HOST]
SOCK = "/run/reference-app.sock"
KINDS = {"read", "version", "write", "job", "ws"}  # the load's traffic (load.py)
RECAP = re.compile(
    r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M
)


@dataclass
class Run:
    rc: int
    out: str
    seconds: float

    def changed(self) -> dict[str, int]:
        return {host: int(changed) for host, _, changed, _, _ in RECAP.findall(self.out)}


def playbook(
    path: str, *extra: str, inventory: Path = INVENTORY, env: dict[str, str] | None = None
) -> Run:
    """Runs a playbook from the project's root; its output is kept under .cache/fleet/logs."""
    # The default output (the recap, each task's result), as tests/conftest.py sets for the tests:
    # the benchmark runs playbooks from here too.
    env = {
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default",
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks,fastapi_vps.stack.module_cache",
        "ANSIBLE_LOG_PATH": os.devnull,
        **os.environ,
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        **(env or {}),
    }
    started = time.monotonic()
    result = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), path, *extra],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    out = result.stdout + result.stderr
    (CACHE / "logs").mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9]+", "-", " ".join([Path(path).stem, *extra]))[:80]
    (CACHE / "logs" / f"{time.strftime('%H%M%S')}-{name}.log").write_text(out)
    return Run(result.returncode, out, time.monotonic() - started)


def sh(container: str, command: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "exec", "-i", container, "sh", "-c", command],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


# The local inventory's worker processes, on WORKER_HOST.
WORKERS = ["reference-app-worker@1", "reference-app-worker@2"]


def psql(sql: str, host: str = "fleet-data1") -> subprocess.CompletedProcess:
    """A statement in the app database on the db host, as postgres; rows as `a|b` lines."""
    command = f"runuser -u postgres -- psql -d app -q -v ON_ERROR_STOP=1 -Atc {shlex.quote(sql)}"
    return sh(host, command)


def process_releases(host: str) -> list[str]:
    """The release each worker process runs: its command line starts with the virtualenv of
    the release `current` pointed to when it started (its cwd is not readable without ptrace)."""
    releases = []
    for unit in WORKERS:
        pid = sh(host, f"systemctl show -p MainPID --value {unit}").stdout.strip()
        running = pid not in ("", "0")
        line = sh(host, f"tr '\\0' ' ' < /proc/{pid}/cmdline").stdout if running else ""
        releases.append(line.split("/releases/")[1].split("/")[0] if "/releases/" in line else "")
    return releases


def served_release(host: str) -> str:
    out = sh(host, f"curl -s --max-time 5 --unix-socket {SOCK} http://localhost/version").stdout
    return json.loads(out)["release"] if out.startswith("{") else ""


def reachable(source: str, address: str, port: int) -> bool:
    probe = f"timeout 3 bash -c 'exec 3<>/dev/tcp/{address}/{port}'"
    return sh(source, probe).returncode == 0


def wait_ready(host: str, timeout: float = 120) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        probe = f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 3 --unix-socket {SOCK} http://localhost/health/ready"
        if sh(host, probe).stdout == "200":
            return time.monotonic() - started
        time.sleep(1)
    raise AssertionError(f"{host} not ready after {timeout}s")


LOAD_PASSWORD = "load-password-7d2f9a41"  # of the users load_token creates


def load_token(email: str = "load@fleet.test") -> str:
    """Gives fleet-client the ACME CA, creates a user for the load and returns its bearer
    token (an API token from /api/auth/token, through nginx)."""
    subprocess.run(
        ["docker", "cp", str(CACHE / "pebble-cert.pem"), f"{CLIENT}:/root/pebble-listener.pem"],
        check=True,
    )
    ca = sh(
        CLIENT,
        "curl -sf --cacert /root/pebble-listener.pem "
        "https://fleet-acme:15000/roots/0 > /root/fleet-ca.pem",
    )
    if ca.returncode:
        raise RuntimeError(f"fleet-client cannot fetch the ACME root: {ca.stderr}")
    password = LOAD_PASSWORD
    # As a user creates their first admin: playbooks/run.yml, the password on the command's
    # standard input from a file on the controller, never on a command line or in the output.
    secret = CACHE / "load-password"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    command = {"run_command": ["app-admin", "create-user", email, "--password-stdin"]}
    created = playbook(
        "playbooks/run.yml", "-e", json.dumps(command), "-e", f"run_stdin_file={secret}"
    )
    if created.rc or password in created.out or "created" not in created.out:
        raise RuntimeError(f"run.yml app-admin create-user: {created.out[-3000:]}")
    token = sh(
        CLIENT,
        "curl -sf --cacert /root/fleet-ca.pem https://www.fleet.test/api/auth/token "
        f"-d username={email} -d password={password}",
    )
    if token.returncode:
        raise RuntimeError(f"no token from /api/auth/token: {token.stderr}")
    return json.loads(token.stdout)["access_token"]


class Load:
    """tests/fleet/load.py on fleet-client, and the records it writes."""

    def start(self, token: str, pace: float = 1.0) -> None:
        subprocess.run(
            ["docker", "cp", str(Path(__file__).with_name("load.py")), f"{CLIENT}:/root/load.py"],
            check=True,
        )
        sh(CLIENT, "rm -f /root/load.jsonl /root/load.stop")
        files = "/root/fleet-ca.pem {token} /root/load.jsonl /root/load.stop"
        command = f"python3 /root/load.py www.fleet.test {files.format(token=token)} {pace}"
        subprocess.run(["docker", "exec", "-d", CLIENT, "sh", "-c", command], check=True)
        self.settle(time.time())

    def settle(self, until: float, timeout: float = 45) -> None:
        """Waits until every kind of traffic has a response to a request sent after `until`:
        each kind is one sequential loop, so all of its requests sent before are answered."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if {row["kind"] for row in self.records(until, math.inf)} >= KINDS:
                return
            time.sleep(0.5)
        raise AssertionError(f"the load answered no request of some kind within {timeout:.0f} s")

    def stop(self) -> None:
        sh(CLIENT, "touch /root/load.stop")

    def records(self, since: float, until: float) -> list[dict]:
        out = sh(CLIENT, "cat /root/load.jsonl").stdout
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        return [row for row in rows if since <= row["t"] <= until]


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of an ascending list (share in 0..1)."""
    return sorted_values[max(0, math.ceil(share * len(sorted_values)) - 1)]
