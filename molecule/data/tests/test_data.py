"""What the database hosts really do, seen from an allowed client, a stranger and themselves."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import testinfra
import testinfra.utils.ansible_runner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("db")

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])

PG_PASSWORD = "lab-pg-password-4c1d"
REDIS_PASSWORD = "lab-redis-password-9e2f7a"
BACKUP_DIR = "/var/backups/postgresql"
RESTORE = "playbooks/restore-dump.yml"
VERSIONS = {"data-debian12": "15", "data-debian13": "17"}


@pytest.fixture(scope="module")
def app():
    return testinfra.get_host("ansible://data-app", ansible_inventory=INVENTORY)


@pytest.fixture(scope="module")
def stranger():
    return testinfra.get_host("ansible://data-stranger", ansible_inventory=INVENTORY)


@pytest.fixture()
def name(host):
    return host.backend.get_hostname()


def psql(client, target, sql, password=PG_PASSWORD, user="app", database="app"):
    """Run SQL on the target over TCP from a client container."""
    dsn = f"host={target} dbname={database} user={user} connect_timeout=4 sslmode=prefer"
    return client.run("PGPASSWORD=%s psql %s -XAtv ON_ERROR_STOP=1 -c %s", password, dsn, sql)


def redis(client, target, *command, auth=True, timeout=5):
    """Run one Redis command from a client container; Redis errors come back on stdout."""
    login = ["--user", "app", "--pass", REDIS_PASSWORD, "--no-auth-warning"] if auth else []
    args = ["timeout", str(timeout), "redis-cli", "-h", target, *login, *command]
    return client.run(" ".join(["%s"] * len(args)), *args)


def reachable(client, target, port, timeout=3):
    """Open a TCP connection from the client; True when it is accepted."""
    script = (
        "import socket,sys\n"
        f"s=socket.socket(); s.settimeout({timeout})\n"
        f"sys.exit(s.connect_ex(('{target}', {port})))\n"
    )
    return client.run("python3 -c %s", script).rc == 0


def dumps(host):
    with host.sudo():
        return host.check_output(f"ls -1A {BACKUP_DIR}").split()


def exposure(host, unit):
    """systemd-analyze's overall exposure for a unit file or name, read from disk, and the
    names of the checks it fails."""
    with host.sudo():
        out = host.check_output(f"systemd-analyze security --offline=true --no-pager {unit} 2>&1")
    score = float(re.search(r"Overall exposure level for .*: ([0-9.]+)", out).group(1))
    failing = {line.split()[1] for line in out.splitlines() if line.startswith("\u2717")}
    return score, failing


# ---------------------------------------------------------------- PostgreSQL


def test_app_role_connects_from_the_app_host_and_creates_tables(app, name):
    sql = "CREATE TABLE probe (id int); INSERT INTO probe VALUES (1); DROP TABLE probe"
    result = psql(app, name, sql)
    assert result.rc == 0, result.stderr
    assert psql(app, name, "SELECT current_user, current_database()").stdout.strip() == "app|app"


def test_wrong_password_is_refused(app, name):
    result = psql(app, name, "SELECT 1", password="not-the-password")
    assert result.rc != 0
    assert 'password authentication failed for user "app"' in result.stderr


def test_only_the_app_database_and_role_are_open(app, name):
    # pg_hba holds the app role for the app database alone.
    other_db = psql(app, name, "SELECT 1", database="postgres")
    assert other_db.rc != 0
    assert "no pg_hba.conf entry" in other_db.stderr
    superuser = psql(app, name, "SELECT 1", user="postgres", database="app")
    assert superuser.rc != 0
    assert "no pg_hba.conf entry" in superuser.stderr


def test_stranger_is_refused(app, stranger, name):
    assert reachable(app, name, 5432)
    assert not reachable(stranger, name, 5432)
    result = psql(stranger, name, "SELECT 1")
    assert result.rc != 0


def test_tuning_follows_the_memory_given(app, name):
    # postgresql_memory_mb: 1024 -> a quarter for shared_buffers, 40 + 10 connections.
    sql = "SELECT current_setting('shared_buffers'), current_setting('max_connections')"
    settings = psql(app, name, sql)
    assert settings.stdout.strip() == "256MB|50"
    assert psql(app, name, "SHOW password_encryption").stdout.strip() == "scram-sha-256"


def test_cluster_runs_in_its_sandbox(host, name):
    version = VERSIONS[name]
    unit = f"postgresql@{version}-main.service"
    stock = f"/tmp/stock-postgresql@{version}-main.service"
    with host.sudo():
        host.check_output(f"cp /lib/systemd/system/postgresql@.service {stock}")
        pid = host.check_output(f"systemctl show -P MainPID {unit}")
        status = host.check_output(f"cat /proc/{pid}/status")
    before, _ = exposure(host, stock)
    after, _ = exposure(host, unit)
    assert after < before - 5, (before, after)
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M)
    assert re.search(r"^Seccomp:\s+2$", status, re.M)
    assert re.search(r"^CapBnd:\s+0+$", status, re.M)


def test_backup_and_restore_bring_every_row_back(app, host, name):
    rows = 500
    sql = f"CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, {rows}) g"
    setup = psql(app, name, f"DROP TABLE IF EXISTS orders; {sql}")
    assert setup.rc == 0, setup.stderr
    before = set(dumps(host))
    with host.sudo():
        run = host.run("systemctl start postgresql-backup.service")
    assert run.rc == 0, run.stderr
    new = sorted(set(dumps(host)) - before)
    assert len(new) == 1 and re.fullmatch(r"app-\d{8}T\d{6}Z\.dump", new[0]), new
    with host.sudo():
        assert host.file(f"{BACKUP_DIR}/{new[0]}").user == "postgres"
        assert host.file(BACKUP_DIR).mode == 0o700

    assert psql(app, name, "DROP TABLE orders").rc == 0

    # Over SSH as the admin user with become, the way an operator runs it (and without
    # pipelining, so becoming postgres goes through ACLs).
    address = host.interface("eth0").addresses[0]
    inventory = EPHEMERAL / f"restore-{name}.ini"
    inventory.write_text(
        f"[db]\n{name} ansible_host={address} ansible_user=deploy "
        f"ansible_ssh_private_key_file={EPHEMERAL / 'admin_key'}\n"
    )
    env = dict(
        os.environ,
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_PIPELINING="False",
        ANSIBLE_CACHE_PLUGIN="ansible.builtin.memory",
    )
    playbook = Path(sys.executable).parent / "ansible-playbook"
    restore = subprocess.run(
        [str(playbook), "-i", str(inventory), "-e", f"postgresql_restore_file={new[0]}", RESTORE],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert restore.returncode == 0, restore.stdout[-3000:] + restore.stderr[-2000:]
    count = psql(app, name, "SELECT count(*), sum(id) FROM orders")
    assert count.stdout.strip() == f"{rows}|{rows * (rows + 1) // 2}"


def test_a_failed_dump_fails_the_unit_and_leaves_no_file(host):
    dropin = "/run/systemd/system/postgresql-backup.service.d"
    before = dumps(host)
    try:
        with host.sudo():
            host.check_output(f"mkdir -p {dropin}")
            broken = "[Service]\\nEnvironment=BACKUP_DATABASE=no_such_database\\n"
            host.check_output(f"printf '{broken}' > {dropin}/zz-broken.conf")
            host.check_output("systemctl daemon-reload")
            run = host.run("systemctl start postgresql-backup.service")
            state = host.run("systemctl is-failed postgresql-backup.service").stdout.strip()
            failed = host.check_output("systemctl --failed --no-legend --plain")
        assert run.rc != 0
        assert state == "failed"
        assert "postgresql-backup.service" in failed
        assert dumps(host) == before
    finally:
        with host.sudo():
            host.run(f"rm -rf {dropin}")
            host.run("systemctl daemon-reload")
            host.run("systemctl reset-failed postgresql-backup.service")


def test_backup_timer_is_scheduled(host):
    with host.sudo():
        timers = host.check_output("systemctl list-timers --all --no-legend postgresql-backup.*")
    assert "postgresql-backup.timer" in timers
    assert host.service("postgresql-backup.timer").is_enabled


# ---------------------------------------------------------------- Redis


def test_redis_refuses_unauthenticated_commands(app, name):
    assert "NOAUTH" in redis(app, name, "PING", auth=False).stdout
    assert "NOAUTH" in redis(app, name, "GET", "x", auth=False).stdout
    default = app.run("redis-cli -h %s --user default --pass x --no-auth-warning PING", name)
    assert "WRONGPASS" in default.stdout + default.stderr


def test_redis_app_user_caches(app, name):
    assert redis(app, name, "SET", "greeting", "hello").stdout.strip() == "OK"
    assert redis(app, name, "GET", "greeting").stdout.strip() == "hello"
    wrong = app.run("redis-cli -h %s --user app --pass bad --no-auth-warning PING", name)
    assert "WRONGPASS" in wrong.stdout + wrong.stderr


def test_redis_app_user_is_denied_dangerous_commands(app, name):
    denied = (["FLUSHALL"], ["FLUSHDB"], ["CONFIG", "GET", "*"], ["KEYS", "*"], ["SHUTDOWN"])
    for command in denied:
        assert "NOPERM" in redis(app, name, *command).stdout, command
    # DEBUG is refused for everyone, before the ACL is even asked.
    assert redis(app, name, "DEBUG", "HELP").stdout.startswith(
        ("NOPERM", "ERR DEBUG command not allowed")
    )
    # FLUSHALL did nothing.
    assert redis(app, name, "GET", "greeting").stdout.strip() == "hello"


def test_redis_pubsub_reaches_subscribers(app, name):
    login = f"--user app --pass {REDIS_PASSWORD} --no-auth-warning"
    out = f"/tmp/sub-{name}.out"
    app.run(f"(timeout 6 redis-cli -h {name} {login} SUBSCRIBE fanout > {out} 2>&1 &)")
    received = "0"
    for _ in range(10):
        received = redis(app, name, "PUBLISH", "fanout", "ping-123").stdout.strip()
        if received == "1":
            break
        app.run("sleep 0.5")
    assert received == "1"
    app.run("sleep 0.5")
    assert "ping-123" in app.check_output(f"cat {out}")


def test_redis_evicts_instead_of_running_out_of_memory(app, name):
    # maxmemory 64 MiB with allkeys-lru: ~100 MB of writes succeed and old keys go.
    script = "for i=1,100000 do redis.call('SET','fill:'..i, string.rep('x', 1000)) end return 1"
    assert redis(app, name, "EVAL", script, "0", timeout=60).stdout.strip() == "1"
    # Eviction runs in steps as commands come in: write until it has caught up.
    size = 100000
    for _ in range(20):
        assert redis(app, name, "SET", "after", "fill").stdout.strip() == "OK"
        size = int(redis(app, name, "DBSIZE").stdout.strip())
        if size < 70000:
            break
        app.run("sleep 0.5")
    assert 0 < size < 70000


def test_stranger_cannot_reach_redis(app, stranger, name):
    assert reachable(app, name, 6379)
    assert not reachable(stranger, name, 6379)


def test_redis_config_keeps_its_secret(host):
    conf = host.file("/etc/redis/redis.conf")
    assert conf.user == "root" and conf.group == "redis" and conf.mode == 0o640
    with host.sudo():
        assert REDIS_PASSWORD not in host.check_output("cat /etc/redis/redis.conf")


def test_redis_runs_in_a_tighter_sandbox(host):
    with host.sudo():
        host.check_output("cp /lib/systemd/system/redis-server.service /tmp/stock-redis.service")
        # Where the host needs PrivateUsers off (Docker), Debian's unit cannot do without it either.
        if host.check_output("systemctl show -P PrivateUsers redis-server.service") == "no":
            host.check_output(
                "sed -i 's/^PrivateUsers=true$/PrivateUsers=false/' /tmp/stock-redis.service"
            )
        pid = host.check_output("systemctl show -P MainPID redis-server.service")
        status = host.check_output(f"cat /proc/{pid}/status")
        # ProcSubset=pid: the server sees processes only, not the kernel's files.
        meminfo = host.run(f"nsenter -t {pid} -m cat /proc/meminfo")
    before, failing_before = exposure(host, "/tmp/stock-redis.service")
    after, failing_after = exposure(host, "redis-server.service")
    # The score is rounded to a tenth: also every check Debian's unit passes still passes,
    # and more do.
    assert after <= before, (before, after)
    assert failing_after < failing_before, (failing_before, failing_after)
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M)
    assert re.search(r"^Umask:\s+0077$", status, re.M)
    assert meminfo.rc != 0
