"""What the app role really deploys on one host: units, sandbox, releases, the zero-downtime
switch through the systemd socket, failing migrations, pruning and the deploy lock, checked on
the app host and from the probe. The multi-step checks run the project's playbooks
(playbooks/deploy.yml, restart.yml refused by the lock) against this scenario's inventory.
Rollouts across hosts under load, an unready release rolled back, rollback.yml and the rolling
restart (upgrade.yml's) are the fleet's (tests/fleet)."""

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import testinfra

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
APP_HOST = "app-debian12"
testinfra_hosts = [f"ansible://{APP_HOST}?ansible_inventory={INVENTORY}"]

ROOT = "/srv/reference-app"
APPS = ("reference-app", "items", "plain", "poetry")
UNITS = ("socket", "service")
SOCK = "/run/reference-app.sock"

# One new connection per request, so a restart cannot hide behind a kept-alive connection.
CLIENT = r"""
import http.client, json, os, socket, sys, time
target, stop = sys.argv[1], sys.argv[2]
class Unix(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(target)
ok, failed, releases, errors = 0, 0, {}, []
while not os.path.exists(stop):
    if target.startswith("/"):
        conn = Unix("localhost")
    else:
        conn = http.client.HTTPConnection(target, timeout=60)
    try:
        conn.request("GET", "/version")
        response = conn.getresponse()
        body = response.read()
        if response.status == 200:
            ok += 1
            release = json.loads(body)["release"]
            releases[release] = releases.get(release, 0) + 1
        else:
            failed += 1
            errors.append(response.status)
    except Exception as exc:
        failed += 1
        errors.append(repr(exc))
    finally:
        conn.close()
    time.sleep(0.02)
print(json.dumps({"ok": ok, "failed": failed, "releases": releases, "errors": errors[:5]}))
"""


def playbook(name, *extra):
    """Run a playbook of the project's (a path from its root, or a name in playbooks/) against the
    scenario's hosts."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(PROJECT), ANSIBLE_FORCE_COLOR="0")
    path = PROJECT / name if "/" in name else PROJECT / "playbooks" / name
    cmd = ["ansible-playbook", "-i", INVENTORY, str(path), *extra]
    result = subprocess.run(cmd, cwd=PROJECT, env=env, capture_output=True, text=True, check=False)
    return result.returncode, result.stdout + result.stderr


def get(host, path, sock=SOCK):
    out = host.check_output(
        f"curl -s --max-time 10 -w '\\n%{{http_code}}' --unix-socket {sock} http://localhost{path}"
    )
    body, _, status = out.rpartition("\n")
    return int(status), body


def https(host, site, path):
    """GET through nginx on the app host, checking the site's own certificate."""
    name = f"{site}.app.test"
    out = host.check_output(
        f"curl -s --max-time 10 -w '\\n%{{http_code}}' --resolve {name}:443:127.0.0.1 "
        f"--cacert /etc/nginx/tls/{site}/fullchain.pem https://{name}{path}"
    )
    body, _, status = out.rpartition("\n")
    return int(status), body


def release(host):
    status, body = get(host, "/version")
    assert status == 200, body
    return json.loads(body)["release"]


def current(host):
    return host.check_output(f"readlink {ROOT}/current").split("/")[-1]


def schema(host):
    return host.check_output(
        "runuser -u postgres -- psql -d app -tAc "
        "\"select string_agg(table_name, ',' order by table_name) from information_schema.tables "
        "where table_schema = 'public'\"; "
        "runuser -u postgres -- psql -d app -tAc 'select version_num from alembic_version'"
    )


@pytest.fixture(scope="module")
def probe():
    return testinfra.get_host("ansible://app-probe", ansible_inventory=INVENTORY)


@pytest.fixture(scope="module")
def first_release(host):
    return current(host)


def test_units_are_active(host):
    for unit in [f"{app}.{kind}" for app in APPS for kind in UNITS]:
        assert host.service(unit).is_running, unit
        assert host.service(unit).is_enabled, unit


def test_socket_is_for_nginx_group_only(host):
    sock = host.file(SOCK)
    assert sock.is_socket
    assert (sock.user, sock.group, sock.mode) == ("root", "www-data", 0o660)


def test_service_runs_as_app_user(host):
    pid = host.check_output("systemctl show -p MainPID --value reference-app.service")
    users = host.check_output(f"ps -o user= --pid {pid} --ppid {pid}").split()
    assert len(users) == 3  # the master and app_workers: 2
    assert set(users) == {"app"}


def test_sandbox_exposure(host):
    for unit in ["reference-app.service", "reference-app-worker@1.service"]:
        out = host.check_output(f"systemd-analyze security --no-pager {unit}")
        exposure = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", out).group(1))
        print(f"systemd-analyze security {unit}: {exposure}")
        assert exposure <= 2.0, unit


def worker_release(host):
    """The release the reference app's queue worker runs: its command line starts with the
    virtualenv of its release."""
    pid = host.check_output("systemctl show -p MainPID --value reference-app-worker@1.service")
    line = host.run(f"tr '\\0' ' ' < /proc/{pid}/cmdline").stdout
    return line.split("/releases/")[1].split("/")[0] if "/releases/" in line else ""


def test_ready_and_version_match_current(host, first_release):
    status, body = get(host, "/health/ready")
    assert status == 200, body
    assert release(host) == first_release
    # The worker beside the web process, as the app user, on the same release.
    worker = "reference-app-worker@1.service"
    assert host.service(worker).is_running and host.service(worker).is_enabled
    pid = host.check_output(f"systemctl show -p MainPID --value {worker}")
    assert host.check_output(f"ps -o user= --pid {pid}") == "app"
    assert worker_release(host) == first_release


def test_tcp_port_serves_the_web_host(host, probe):
    address = host.interface("eth0").addresses[0]
    out = probe.check_output(f"curl -s --max-time 10 http://{address}:8000/version")
    assert json.loads(out)["release"] == current(host)


def installed_versions(host, app):
    script = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name'].lower().replace('_', '-'): d.version "
        "for d in m.distributions()}))"
    )
    return json.loads(host.check_output(f'/srv/{app}/current/venv/bin/python -c "{script}"'))


def test_workspace_app_runs_its_lock_and_its_migrations(host):
    # Its prestart script ran alembic from backend/: the row the first migration adds is served,
    # through nginx over HTTPS.
    status, body = https(host, "items", "/api/v1/items/first")
    assert status == 200, body
    assert "first" in body
    # Every package in the virtualenv is at the version of the app's uv.lock, gunicorn and the
    # uvicorn worker (the app does not name them) at the role's pins.
    lock = tomllib.loads((PROJECT / "tests/apps/workspace/uv.lock").read_text())
    locked = {package["name"]: package["version"] for package in lock["package"]}
    installed = installed_versions(host, "items")
    server = {"gunicorn", "uvicorn-worker"}
    assert {"fastapi", "sqlmodel", "alembic", "psycopg"} <= installed.keys()
    assert server <= installed.keys()
    wrong = {
        name: (version, locked.get(name))
        for name, version in installed.items()
        if name not in server and locked.get(name) != version
    }
    assert not wrong, wrong
    # It serves from its release's project directory, as systemd and the process show.
    workdir = host.check_output("systemctl show -p WorkingDirectory --value items.service")
    assert workdir == "/srv/items/current/src/backend"
    pid = host.check_output("systemctl show -p MainPID --value items.service")
    serving = host.check_output("readlink /srv/items/current").split("/")[-1]
    python = host.file(f"/proc/{pid}/cmdline").content_string.split("\0")[0]
    assert python == f"/srv/items/releases/{serving}/venv/bin/python"


def test_plain_app_from_main_py_and_requirements_txt(host, probe):
    status, body = https(host, "plain", "/")
    assert status == 200, body
    assert json.loads(body) == {"app": "plain"}
    address = host.interface("eth0").addresses[0]
    assert json.loads(probe.check_output(f"curl -s --max-time 10 http://{address}:8001/")) == {
        "app": "plain"
    }
    pins = dict(
        line.split("==")
        for line in (PROJECT / "tests/apps/plain/requirements.txt").read_text().splitlines()
        if "==" in line
    )
    installed = installed_versions(host, "plain")
    assert {name: installed.get(name) for name in pins} == pins


def test_poetry_app_runs_its_lock(host):
    status, body = https(host, "poetry", "/")
    assert status == 200, body
    assert json.loads(body) == {"message": "hello from poetry"}
    lock = tomllib.loads((PROJECT / "tests/apps/poetry/poetry.lock").read_text())
    locked = {package["name"]: package["version"] for package in lock["package"]}
    installed = installed_versions(host, "poetry")
    assert {"fastapi", "pydantic-settings", "starlette", "pydantic"} <= installed.keys()
    # What the lock names is at the lock's version; the app server, which it does not name, at
    # the role's pins.
    wrong = {
        name: (version, locked[name])
        for name, version in installed.items()
        if name in locked and locked[name] != version
    }
    assert not wrong, wrong
    server = dict(
        line.split("==")
        for line in (
            PROJECT
            / "ansible_collections/fastapi_vps/stack/roles/app/files/server-requirements.txt"
        )
        .read_text()
        .splitlines()
        if "==" in line
    )
    server = {name.split("[")[0]: version.split()[0] for name, version in server.items()}
    assert {name: installed.get(name) for name in server} == server
    assert "pytest" not in installed  # its dev group stays out


def test_reference_app_over_https_runs_what_its_release_resolved(host):
    status, body = https(host, "reference-app", "/health/ready")
    assert status == 200, body
    # No lock of its own: what the release resolved, kept in it, is what runs.
    pins = dict(
        re.match(r"([A-Za-z0-9_.-]+)==([^ ;\\]+)", line).groups()
        for line in host.file(f"{ROOT}/current/requirements.txt").content_string.splitlines()
        if re.match(r"[A-Za-z0-9]", line)
    )
    pins = {name.lower().replace("_", "-"): version for name, version in pins.items()}
    installed = installed_versions(host, "reference-app")
    assert {name: installed.get(name) for name in pins} == pins


def test_new_release_without_a_failed_request(host, probe, first_release):
    host.run("rm -f /tmp/stop-client")
    probe.run("rm -f /tmp/stop-client")
    address = host.interface("eth0").addresses[0]
    clients = [
        subprocess.Popen(
            ["docker", "exec", APP_HOST, "python3", "-c", CLIENT, SOCK, "/tmp/stop-client"],
            stdout=subprocess.PIPE,
            text=True,
        ),
        subprocess.Popen(
            [
                "docker",
                "exec",
                "app-probe",
                "python3",
                "-c",
                CLIENT,
                f"{address}:8000",
                "/tmp/stop-client",
            ],
            stdout=subprocess.PIPE,
            text=True,
        ),
    ]
    try:
        rc, out = playbook("deploy.yml", "-e", "app_release_id=t-second")
    finally:
        host.run("touch /tmp/stop-client")
        probe.run("touch /tmp/stop-client")
        counts = [json.loads(c.communicate(timeout=120)[0]) for c in clients]
    print(f"requests during the deploy: unix socket {counts[0]}, tcp {counts[1]}")
    assert rc == 0, out
    assert release(host) == "t-second"
    assert worker_release(host) == "t-second"
    for count in counts:
        assert count["failed"] == 0, count
        assert count["ok"] > 0
        # Both releases answered: the clients really ran across the switch.
        assert set(count["releases"]) == {first_release, "t-second"}, count


def test_failing_migration_changes_nothing(host):
    source = EPHEMERAL / "broken-migration-app"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir()
    shutil.copy(PROJECT / "pyproject.toml", source)
    shutil.copy(PROJECT / "README.md", source)
    shutil.copytree(PROJECT / "app", source / "app", ignore=shutil.ignore_patterns("__pycache__"))
    # On top of the app's newest migration: the one no other names as its down revision.
    texts = [path.read_text() for path in (source / "app/migrations/versions").glob("*.py")]
    named = {re.search(r'^revision[^=]*= "(\w+)"', text, re.M).group(1) for text in texts}
    downs = [re.search(r'^down_revision[^=]*= "(\w+)"', text, re.M) for text in texts]
    below = {match.group(1) for match in downs if match}
    (head,) = named - below
    (source / "app/migrations/versions/9999_broken.py").write_text(
        '"""broken: creates a table, then fails."""\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f'revision = "9999"\ndown_revision = "{head}"\n'
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        '    op.create_table("broken_probe", sa.Column("id", sa.Integer, primary_key=True))\n'
        '    op.execute("SELECT 1 / 0")\n\n\n'
        "def downgrade() -> None:\n    pass\n"
    )
    before = schema(host)
    rc, out = playbook("deploy.yml", "-e", f"app_source={source}")
    assert rc != 0
    assert "migrations of release" in out and "failed" in out
    # The failure shows why: the end of the migration's own output.
    assert "division by zero" in out, out[-3000:]
    assert schema(host) == before
    assert "broken_probe" not in before
    assert current(host) == "t-second"
    assert release(host) == "t-second"


def test_deploy_lock_stops_a_second_deploy_and_pruning_keeps_the_newest(host):
    host.check_output(f"echo 'someone since earlier' > {ROOT}/deploy.lock")
    rc, out = playbook("restart.yml")
    assert rc != 0
    assert "deploy.lock exists" in out and "someone since earlier" in out
    before = host.check_output("systemctl show -p MainPID --value reference-app.service")
    # A stale lock cleared on request; the deploy then prunes to the newest two releases. (The
    # rollout's restart, restart.yml's own, runs under load in the fleet's upgrade.yml step.)
    more = ["-e", "app_keep_releases=2", "-e", "app_force_unlock=true"]
    rc, out = playbook("deploy.yml", "-e", "app_release_id=t-third", *more)
    assert rc == 0, out
    assert not host.file(f"{ROOT}/deploy.lock").exists
    assert host.check_output("systemctl show -p MainPID --value reference-app.service") != before
    assert release(host) == "t-third"
    left = sorted(host.check_output(f"ls {ROOT}/releases").split())
    assert left == ["t-second", "t-third"]


def test_a_setting_that_breaks_readiness_goes_back_to_the_last_good_ones(host):
    unit = "/etc/systemd/system/reference-app.service"
    settings = (f"{ROOT}/shared/gunicorn.conf.py", f"{ROOT}/shared/env", unit)
    with host.sudo():
        before = {path: host.file(path).content_string for path in settings}
    pid = host.check_output("systemctl show -p MainPID --value reference-app.service")
    # A module that does not exist, and a new secret: the env file changes too.
    secrets = dict(host.ansible.get_variables()["app_secret_env"], APP_LAB_TOKEN="lab-token-9d2f")
    same = ["-e", "app_release_id=t-third"]
    # (A shorter wait for readiness changes the unit's TimeoutStartSec as well.)
    bad = ["-e", "app_module=app.main:nope", "-e", "app_ready_timeout=10"]
    bad += ["-e", json.dumps({"app_secret_env": secrets})]
    rc, out = playbook("molecule/app/reference.yml", *same, *bad)
    assert rc != 0
    # The failure names what changed: the setting's line, the env key without its value.
    assert 'wsgi_app = "app.main:nope"' in out, out[-3000:]
    assert "+APP_LAB_TOKEN" in out and "Back to the last good settings, ready again." in out
    for secret in secrets.values():
        assert secret not in out
    # Nothing was left half-done: the files, the unit systemd runs and the state are as before.
    with host.sudo():
        assert {path: host.file(path).content_string for path in settings} == before
    show = "systemctl show -p MainPID -p NeedDaemonReload -p ActiveState reference-app.service"
    unit_state = dict(line.split("=", 1) for line in host.check_output(show).splitlines())
    assert unit_state["MainPID"] != pid, unit_state
    assert unit_state["NeedDaemonReload"] == "no", unit_state
    assert unit_state["ActiveState"] == "active", unit_state
    assert release(host) == "t-third"
    assert not host.file(f"{ROOT}/restart-pending").exists


def recap_changed(out, host=APP_HOST):
    return int(re.search(rf"^{host}\s*:.*changed=(\d+)", out, re.M).group(1))


def test_an_app_replaced_under_a_new_name_and_one_removed(host, probe):
    # Without app_replaces, plain's socket holds the port hello asks for: refused before any
    # host changes.
    rc, out = playbook("molecule/app/replace.yml", "-e", '{"lab_replaces": []}')
    assert rc != 0
    assert "plain.socket holds 0.0.0.0:8001" in out and "app_replaces" in out, out[-3000:]
    assert recap_changed(out) == 0
    assert host.service("plain.service").is_running
    assert not host.file("/etc/systemd/system/hello.service").exists

    # nginx -t on what is on disk, over and over, while the replacement runs.
    host.check_output(
        "systemd-run --unit=lab-nginx-watch sh -c 'while :; do "
        "if nginx -t -q 2>/dev/null; then echo ok; else echo FAIL; fi; sleep 0.1; "
        "done >/tmp/nginx-watch.log'"
    )
    try:
        rc, out = playbook("molecule/app/replace.yml")
    finally:
        host.run("systemctl stop lab-nginx-watch")
    assert rc == 0, out[-3000:]
    checks = host.file("/tmp/nginx-watch.log").content_string.split()
    print(f"nginx -t while replacing: {len(checks)} checks, {checks.count('FAIL')} failed")
    assert len(checks) > 20 and "FAIL" not in checks

    # hello serves through nginx and on the TCP port plain had; plain and poetry are gone.
    status, body = https(host, "hello", "/health")
    assert status == 200, body
    address = host.interface("eth0").addresses[0]
    served = json.loads(probe.check_output(f"curl -s --max-time 10 http://{address}:8001/version"))
    assert served["release"] == host.check_output("readlink /srv/hello/current").split("/")[-1]
    for gone in ("plain", "poetry"):
        for path in (
            f"/etc/systemd/system/{gone}.service",
            f"/etc/systemd/system/{gone}.socket",
            f"/run/{gone}.sock",
            f"/srv/{gone}",
            f"/etc/nftables.d/app-{gone}.nft",
            f"/etc/nginx/sites-enabled/{gone}.conf",
            f"/etc/nginx/web-upstreams/{gone}",
        ):
            assert not host.file(path).exists, path
        assert host.run(f"systemctl status {gone}.service").rc == 4  # no such unit
    assert host.file("/etc/nftables.d/app-hello.nft").exists

    # A second run changes nothing.
    rc, out = playbook("molecule/app/replace.yml")
    assert rc == 0, out[-3000:]
    assert recap_changed(out) == 0, out[-3000:]
