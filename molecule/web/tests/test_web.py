"""What the web hosts really serve, seen from another container and from the controller."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra
import testinfra.utils.ansible_runner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("web")

ROOT_PEM = "/tmp/acme-root.pem"
PROJECT = Path(__file__).resolve().parents[3]
PLAYBOOK = Path(__file__).resolve().parents[1] / "web.yml"
DRAIN_PLAYBOOK = Path(__file__).resolve().parents[1] / "drain.yml"
SITES = {"web-debian12": "www12.example.test", "web-debian13": "www13.example.test"}
SITE_FILE = "/etc/nginx/sites-enabled/demo.conf"
ACCESS_LOG = "/var/log/nginx/demo.access.log"

# Requests over one keep-alive TLS connection; prints the status codes as JSON.
BURST = """
import http.client, json, ssl, sys
host, path, count, cafile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
conn = http.client.HTTPSConnection(host, 443, context=ssl.create_default_context(cafile=cafile))
codes = []
for _ in range(count):
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    codes.append(response.status)
print(json.dumps(codes))
"""

WEBSOCKET = """
import asyncio, ssl, sys, websockets
async def main():
    context = ssl.create_default_context(cafile=sys.argv[2])
    async with websockets.connect(sys.argv[1], ssl=context) as ws:
        await ws.send(sys.argv[3])
        print(await asyncio.wait_for(ws.recv(), 5))
asyncio.run(main())
"""


# Requests at once, each on its own connection; prints the sorted status codes as JSON.
AT_ONCE = """
import concurrent.futures, http.client, json, ssl, sys
host, path, count, cafile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
context = ssl.create_default_context(cafile=cafile)
def one(_):
    conn = http.client.HTTPSConnection(host, 443, context=context, timeout=30)
    conn.request("GET", path)
    return conn.getresponse().status
with concurrent.futures.ThreadPoolExecutor(count) as pool:
    print(json.dumps(sorted(pool.map(one, range(count)))))
"""
# WebSockets opened one after another and held; prints each one's status (101: open).
WEBSOCKETS_HELD = """
import asyncio, json, ssl, sys, websockets
async def main():
    uri, cafile, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    context = ssl.create_default_context(cafile=cafile)
    held, codes = [], []
    for _ in range(count):
        try:
            held.append(await websockets.connect(uri, ssl=context))
            codes.append(101)
        except Exception as refused:  # InvalidStatus (websockets 13+) or InvalidStatusCode
            codes.append(getattr(getattr(refused, "response", refused), "status_code", None))
    for ws in held:
        await ws.close()
    print(json.dumps(codes))
asyncio.run(main())
"""
# Request headers begun and never finished; prints the seconds until nginx closed.
SLOW_HEADERS = """
import socket, ssl, sys, time
host, cafile = sys.argv[1], sys.argv[2]
raw = socket.create_connection((host, 443))
sock = ssl.create_default_context(cafile=cafile).wrap_socket(raw, server_hostname=host)
sock.sendall(f"GET / HTTP/1.1\\r\\nHost: {host}\\r\\n".encode())
start = time.monotonic()
sock.settimeout(60)
try:
    while sock.recv(4096):
        pass
except ConnectionError:  # closed without TLS's close_notify: closed all the same
    pass
print(round(time.monotonic() - start, 1))
"""
# On the web host, over loopback, one connection: requests that say which client they stand
# for (realip), ADDRESS=COUNT in turn; prints the status codes for each as JSON.
AS_CLIENTS = """
import http.client, json, socket, ssl, sys
site, path, turns = sys.argv[1], sys.argv[2], sys.argv[3:]
context = ssl._create_unverified_context()
conn = http.client.HTTPSConnection(site, 443, context=context)
conn.sock = context.wrap_socket(socket.create_connection(("127.0.0.1", 443)), server_hostname=site)
codes = []
for address, count in (turn.split("=") for turn in turns):
    codes.append([])
    for _ in range(int(count)):
        conn.request("GET", path, headers={"X-Lab-Client-Address": address})
        response = conn.getresponse()
        response.read()
        codes[-1].append(response.status)
print(json.dumps(codes))
"""


@pytest.fixture(scope="module")
def client():
    return testinfra.get_host("ansible://web-upstream", ansible_inventory=INVENTORY)


@pytest.fixture(scope="module")
def acme_root(client):
    """Pebble's issuing root, fetched from its management port (it changes at each start)."""
    client.check_output(
        f"curl -sSf --cacert /usr/local/share/pebble-listener.pem -o {ROOT_PEM} https://web-acme:15000/roots/0"
    )
    return client.check_output(f"cat {ROOT_PEM}")


@pytest.fixture()
def name(host):
    return host.backend.get_hostname()


@pytest.fixture()
def site(name):
    return SITES[name]


def curl(client, args):
    return client.run(f"curl -sS --max-time 10 --cacert {ROOT_PEM} {args}")


def status(client, url, extra=""):
    return curl(client, f"-o /dev/null -w '%{{http_code}}' {extra} {url}").stdout.strip()


def served_serial(client, site):
    return client.check_output(
        f"echo | openssl s_client -connect {site}:443 -servername {site} 2>/dev/null "
        "| openssl x509 -noout -serial"
    )


def run_web_playbook(limit, extra_vars, playbook=PLAYBOOK):
    """The web role alone against the scenario's hosts, as a user would run it."""
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(PROJECT),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
    }
    env.pop("ANSIBLE_CONFIG", None)
    return subprocess.run(
        [
            "ansible-playbook",
            "-i",
            os.path.dirname(INVENTORY),
            "--limit",
            limit,
            "-e",
            extra_vars,
            str(playbook),
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        env=env,
    )


def config_digest(host):
    """One digest over every file the role manages."""
    with host.sudo():
        return host.check_output(
            "find /etc/nginx /etc/nftables.d /etc/letsencrypt/renewal"
            " /etc/systemd/system/certbot.service.d -type f -print0"
            " | sort -z | xargs -0 md5sum | md5sum"
        )


def test_certificate_chains_to_the_acme_root_for_the_site_name(client, acme_root, site):
    result = client.run(
        f"echo | openssl s_client -connect {site}:443 -servername {site} -CAfile {ROOT_PEM} "
        f"-verify_return_error -verify_hostname {site}"
    )
    assert result.rc == 0, result.stderr
    assert "Verify return code: 0 (ok)" in result.stdout
    assert status(client, f"https://{site}/health") == "200"


def test_unknown_names_get_no_certificate(client, site):
    result = client.run(
        f"echo | openssl s_client -connect {site}:443 -servername unknown.example.test"
    )
    assert result.rc != 0
    assert "BEGIN CERTIFICATE" not in result.stdout


def test_http_redirects_to_https_but_answers_acme_challenges(client, host, site):
    result = client.run(
        f"curl -sS -o /dev/null -w '%{{http_code}} %{{redirect_url}}' http://{site}/some/page?q=1"
    )
    assert result.stdout == f"301 https://{site}/some/page?q=1"
    with host.sudo():
        host.run("install -d /var/www/acme-challenge/.well-known/acme-challenge")
        host.run("echo lab-token > /var/www/acme-challenge/.well-known/acme-challenge/lab-token")
    assert (
        client.check_output(f"curl -sS http://{site}/.well-known/acme-challenge/lab-token")
        == "lab-token"
    )
    with host.sudo():
        host.run("rm -f /var/www/acme-challenge/.well-known/acme-challenge/lab-token")


def test_hsts_and_security_headers(client, acme_root, site):
    headers = curl(client, f"-D- -o /dev/null https://{site}/").stdout.lower()
    assert "strict-transport-security: max-age=63072000" in headers
    assert "x-content-type-options: nosniff" in headers
    assert "x-frame-options: deny" in headers
    assert "referrer-policy: strict-origin-when-cross-origin" in headers
    assert "server: nginx\r\n" in headers  # no version
    # The upstream sets some of them too: each is sent once, with nginx's value.
    names = [line.split(":")[0] for line in headers.splitlines() if ":" in line]
    for header in ("x-content-type-options", "x-frame-options", "referrer-policy", "x-request-id"):
        assert names.count(header) == 1, (header, headers)


def test_a_host_no_site_serves_is_misdirected(client, acme_root, site):
    # The handshake names the site; the request another name.
    assert status(client, f"https://{site}/", "-H 'Host: other.example.test'") == "421"


def test_private_paths_are_refused_from_outside_served_on_loopback(client, acme_root, host, site):
    for path in ("/docs", "/docs/oauth2-redirect", "/openapi.json", "/health/ready", "/version"):
        assert status(client, f"https://{site}{path}") == "403", path
        local = host.run(
            f"curl -sS -k -o /dev/null -w '%{{http_code}}' --resolve {site}:443:127.0.0.1 https://{site}{path}"
        )
        assert local.stdout == "200", path
    # What stays public: the app's routes and liveness.
    assert status(client, f"https://{site}/api/anything") == "200"
    assert status(client, f"https://{site}/health") == "200"
    assert status(client, f"https://{site}/versions") == "200"  # a path, not a prefix


def test_http2_with_the_syntax_of_the_installed_nginx(client, acme_root, host, site):
    assert (
        curl(client, f"--http2 -o /dev/null -w '%{{http_version}}' https://{site}/health").stdout
        == "2"
    )
    version = host.run("nginx -v").stderr.split("/")[1].strip()
    config = host.file(SITE_FILE).content_string
    newer = tuple(int(part) for part in version.split(".")) >= (1, 25, 1)
    assert ("http2 on;" in config) == newer
    assert ("ssl http2;" in config) != newer


def test_sslyze_finds_no_deviation_from_mozilla_intermediate(host, acme_root, site, tmp_path):
    # Pebble's root is not in any public store: give it to sslyze for path validation.
    root = tmp_path / "root.pem"
    root.write_text(acme_root + "\n")
    address = next(a for a in host.interface("eth0").addresses if "." in a)
    sslyze = Path(sys.executable).parent / "sslyze"
    result = subprocess.run(
        [
            str(sslyze),
            "--mozilla_config=intermediate",
            f"--certinfo_ca_file={root}",
            f"{site}:443{{{address}}}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{site}:443: OK - Compliant." in result.stdout


def test_auth_path_is_limited_earlier_than_the_api(client, acme_root, site):
    time.sleep(3)  # let the zones refill after earlier tests
    codes = {}
    for path in ("/api/auth/login", "/api/items"):
        out = client.check_output("python3 -c %s %s %s 40 %s", BURST, site, path, ROOT_PEM)
        codes[path] = json.loads(out)
    auth, api = codes["/api/auth/login"], codes["/api/items"]
    assert set(auth) == {200, 429} and set(api) == {200, 429}, codes
    # Served: the burst (3 and 20) plus what the rate refilled meanwhile.
    assert auth.index(429) < api.index(429), codes
    assert 3 <= auth.index(429) <= 8, codes
    assert 20 <= api.index(429) <= 35, codes


def test_health_is_neither_limited_nor_logged(client, acme_root, host, site):
    codes = json.loads(client.check_output("python3 -c %s %s /health 60 %s", BURST, site, ROOT_PEM))
    assert codes == [200] * 60
    marker = f"lab-health-{time.time()}"
    curl(client, f"-A {marker} -o /dev/null https://{site}/health")
    curl(client, f"-A {marker} -o /dev/null https://{site}/logged")
    with host.sudo():
        log = host.file(ACCESS_LOG).content_string
    marked = "".join(line for line in log.splitlines() if marker in line)
    assert '"uri":"/logged"' in marked
    assert '"uri":"/health"' not in marked


def test_websocket_echo_over_wss(client, acme_root, site):
    message = f"hello-{time.time()}"
    out = client.check_output(
        "python3 -c %s %s %s %s", WEBSOCKET, f"wss://{site}/ws/echo", ROOT_PEM, message
    )
    assert out == message


def test_one_client_has_only_so_many_requests_in_progress(client, acme_root, site):
    time.sleep(3)  # let the rate limit zones refill after earlier tests
    # nginx_limit_conn_per_client is 6 here; each of these takes 2 s at the app.
    out = client.check_output("python3 -c %s %s /api/slow 10 %s", AT_ONCE, site, ROOT_PEM)
    assert json.loads(out) == [200] * 6 + [429] * 4, out


def test_one_client_holds_only_so_many_websockets(client, acme_root, site):
    # nginx_websocket_limit_per_client is 2 here.
    uri = f"wss://{site}/ws/echo"
    out = client.check_output("python3 -c %s %s %s 4", WEBSOCKETS_HELD, uri, ROOT_PEM)
    assert json.loads(out) == [101, 101, 429, 429], out
    # Closed, they make room again.
    out = client.check_output("python3 -c %s %s %s 2", WEBSOCKETS_HELD, uri, ROOT_PEM)
    assert json.loads(out) == [101, 101], out


def test_a_client_that_never_ends_its_headers_is_closed(client, acme_root, site):
    # nginx_client_header_timeout is 3 here, counted from the connection's start.
    seconds = float(client.check_output("python3 -c %s %s %s", SLOW_HEADERS, site, ROOT_PEM))
    assert 1 <= seconds <= 10, seconds


def test_ipv6_clients_share_limits_by_their_64(host, site):
    # The auth path allows a burst of 3, then 1/s: one address uses up its /64's turns, which
    # another address of the same /64 then does not get, while the next /64 does.
    turns = ["2001:db8:1:2::a=8", "2001:db8:1:2:ffff::b=2", "2001:db8:1:3::a=1"]
    out = host.check_output("python3 -c %s %s /api/auth/v6 %s %s %s", AS_CLIENTS, site, *turns)
    first, same_64, next_64 = json.loads(out)
    assert first[:3] == [200] * 3 and first[-1] == 429, out
    assert same_64 == [429, 429], out
    assert next_64 == [200], out


def test_workers_are_sized_for_the_host(host):
    facts = host.ansible("setup", "gather_subset=hardware")["ansible_facts"]
    per_worker = facts["ansible_memtotal_mb"] * 4 // max(facts["ansible_processor_vcpus"], 1)
    init_limits = host.file("/proc/1/limits").content_string
    hard = next(line for line in init_limits.splitlines() if line.startswith("Max open files"))
    expected = min(max(per_worker, 1024), 65535, int(hard.split()[4]) // 2)
    with host.sudo():
        config = host.check_output("nginx -T 2>/dev/null")
    assert f"worker_connections {expected};" in config
    assert f"worker_rlimit_nofile {2 * expected};" in config
    # The running workers have the descriptors it promises.
    worker = host.check_output('pgrep --parent "$(cat /run/nginx/nginx.pid)" nginx | head -n 1')
    limits = host.file(f"/proc/{worker}/limits").content_string
    line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    assert line.split()[3:5] == [str(2 * expected)] * 2, line


@pytest.mark.parametrize(("unit", "most"), [("nginx.service", 3.0), ("certbot.service", 2.0)])
def test_nginx_and_certbot_are_sandboxed(host, unit, most):
    with host.sudo():
        out = host.check_output(f"systemd-analyze security --no-pager {unit}")
    exposure = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", out).group(1))
    print(f"systemd-analyze security {unit} on {host.backend.host}: {exposure}")
    assert exposure <= most
    # nginx runs under it (the drop-ins took effect: the pid file is in its own directory).
    assert host.service("nginx").is_running
    assert host.file("/run/nginx/nginx.pid").exists


def test_metrics_refused_from_outside_served_on_loopback(client, acme_root, host, site):
    assert status(client, f"https://{site}/metrics") == "403"
    assert status(client, f"https://{site}/metrics/") == "403"
    local = host.run(
        f"curl -sS -k -o /dev/null -w '%{{http_code}}' --resolve {site}:443:127.0.0.1 https://{site}/metrics"
    )
    assert local.stdout == "200"


def test_static_files_come_from_nginx_with_cache_headers(client, acme_root, site):
    result = curl(client, f"-D- https://{site}/static/hello.txt")
    headers, body = result.stdout.split("\r\n\r\n", 1)
    assert body == "static hello\n"  # the stand-in app would answer JSON
    assert "cache-control: max-age=604800" in headers.lower()
    gzip = curl(
        client, f"-H 'Accept-Encoding: gzip' -D- -o /dev/null https://{site}/static/big.txt"
    ).stdout
    assert "content-encoding: gzip" in gzip.lower()


def test_request_id_reaches_the_app_and_the_json_log(client, acme_root, host, site):
    marker = f"lab-rid-{time.time()}"
    result = curl(
        client, f"-D- -A {marker} -H 'X-Request-ID: forged-by-client-0001' https://{site}/api/echo"
    )
    headers, body = result.stdout.split("\r\n\r\n", 1)
    sent = next(
        line.split(":", 1)[1].strip()
        for line in headers.splitlines()
        if line.lower().startswith("x-request-id:")
    )
    received = json.loads(body)
    # The client's id is not trusted (nginx_request_id_from_client: false): nginx makes its own.
    assert sent != "forged-by-client-0001"
    assert received["request_id"] == sent
    assert received["forwarded_proto"] == "https"
    with host.sudo():
        line = next(
            line for line in host.file(ACCESS_LOG).content_string.splitlines() if marker in line
        )
    entry = json.loads(line)
    assert entry["request_id"] == sent
    assert entry["status"] == 200
    assert float(entry["request_time"]) >= 0
    assert float(entry["upstream_response_time"]) >= 0
    assert float(entry["upstream_connect_time"]) >= 0


def test_remote_or_local_app_servers(client, acme_root, name, site):
    servers = {
        json.loads(curl(client, f"https://{site}/api/who").stdout)["server"] for _ in range(8)
    }
    if name == "web-debian12":
        assert servers == {"upstream-8000", "upstream-8001"}  # two remote hosts, both used
    else:
        assert servers == {"upstream-unix"}  # the app's unix socket on the same host


def test_firewall_fragment_opens_80_and_443(host):
    with host.sudo():
        chain = host.check_output("nft list chain inet host_firewall input")
    assert 'tcp dport { 80, 443 } accept comment "nginx"' in chain


def test_renewal_serves_the_new_certificate_without_a_failed_request(client, acme_root, host, site):
    before = served_serial(client, site)
    client.run("rm -f /tmp/lab-load.stop /tmp/lab-load.out")
    client.run(
        f"setsid nohup python3 /usr/local/bin/lab_load.py https://{site}/health {ROOT_PEM} "
        "/tmp/lab-load.stop > /tmp/lab-load.out 2>&1 < /dev/null &"
    )
    time.sleep(2)
    # As certbot.timer runs it: certbot.service in its sandbox, its deploy hook reloading nginx
    # from there. A runtime drop-in (gone at the next boot, outside the role's files) forces the
    # renewal of a certificate that is not due yet.
    force = "/run/systemd/system/certbot.service.d"
    with host.sudo():
        host.check_output(
            f"mkdir -p {force} && printf '%s\\n' '[Service]' 'ExecStart='"
            f" 'ExecStart=/usr/bin/certbot -q renew --force-renewal --no-random-sleep-on-renew'"
            f" > {force}/force.conf && systemctl daemon-reload"
        )
        renewal = host.run("systemctl start certbot.service")
        journal = host.run("journalctl -u certbot.service -n 30 --no-pager").stdout
        host.check_output(f"rm -rf {force} && systemctl daemon-reload")
    assert renewal.rc == 0, renewal.stderr + journal
    time.sleep(3)
    client.run("touch /tmp/lab-load.stop")
    for _ in range(30):
        out = client.run("cat /tmp/lab-load.out").stdout.strip()
        if out:
            break
        time.sleep(1)
    load = json.loads(out)
    assert load["failed"] == 0, load
    assert load["ok"] >= 20, load
    after = served_serial(client, site)
    assert after != before
    # The loop saw the old certificate, then the new one: nginx reloaded while it ran.
    assert len(load["serials"]) == 2, load


# The argument spec reports every value of the wrong type or choice at once, and the role's own
# rules every broken rule at once: a run each covers every case.
BAD_VALUES = {
    "the role's rules": (
        {
            "nginx_sites": [
                {
                    "name": "demo",
                    "server_names": ["bad name!"],
                    "upstream_servers": ["web-upstream:8000"],
                }
            ],
            "nginx_ratelimit_api_rate": "-5r/s",
            "nginx_ratelimit_auth_burst": -1,
        },
        ["server_names", "nginx_ratelimit_api_rate", "nginx_ratelimit_auth_burst"],
    ),
    "the argument spec": ({"nginx_tls_mode": "letsencrypt"}, ["nginx_tls_mode"]),
}


@pytest.mark.parametrize("case", BAD_VALUES, ids=list(BAD_VALUES))
def test_bad_variables_are_refused_before_any_change(case):
    target = testinfra.get_host("ansible://web-debian12", ansible_inventory=INVENTORY)
    before = config_digest(target)
    overrides, variables = BAD_VALUES[case]
    result = run_web_playbook("web-debian12", json.dumps(overrides))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for variable in variables:
        assert variable in output, (variable, output)
    assert "changed=0" in output, output
    assert config_digest(target) == before


def test_a_template_nginx_rejects_leaves_the_old_configuration_serving(client, acme_root):
    target = testinfra.get_host("ansible://web-debian13", ansible_inventory=INVENTORY)
    site = SITES["web-debian13"]
    before = config_digest(target)
    pid = target.check_output("cat /run/nginx/nginx.pid")
    result = run_web_playbook(
        "web-debian13", json.dumps({"web_lab_extra_config": "lab_no_such_directive on;"})
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert 'unknown directive "lab_no_such_directive"' in output, output
    # Nothing on disk changed, the configuration still passes, nginx was not restarted, and
    # it serves as before.
    assert config_digest(target) == before
    with target.sudo():
        assert target.run("nginx -t").rc == 0
    assert "lab_no_such_directive" not in target.file(SITE_FILE).content_string
    assert target.check_output("cat /run/nginx/nginx.pid") == pid
    assert status(client, f"https://{site}/api/after-rejection") == "200"


def test_a_drained_server_gets_no_request_and_a_rejected_drain_changes_nothing(client, acme_root):
    """The drain entry point as a rollout runs it: a server marked down gets no new request, a
    second drain changes nothing, and one whose configuration nginx rejects puts it back."""
    target = testinfra.get_host("ansible://web-debian12", ansible_inventory=INVENTORY)
    site, upstreams = SITES["web-debian12"], "/etc/nginx/web-upstreams/demo"
    bad = f"{upstreams}/zz-lab-bad.conf"

    def drain(state):
        variables = {"nginx_drain_state": state, "nginx_drain_servers": ["web-upstream:8000"]}
        result = run_web_playbook("web-debian12", json.dumps(variables), DRAIN_PLAYBOOK)
        return result.returncode, result.stdout + result.stderr

    def served():
        who = [curl(client, f"https://{site}/api/who").stdout for _ in range(8)]
        return {json.loads(body)["server"] for body in who}

    try:
        rc, out = drain("down")
        assert rc == 0 and "changed=1" in out, out
        assert served() == {"upstream-8001"}
        rc, out = drain("down")
        assert rc == 0 and "changed=0" in out, out
        with target.sudo():
            target.check_output(f"echo 'lab_no_such_directive on;' > {bad}")
            before = config_digest(target)
        rc, out = drain("up")
        assert rc != 0 and "lab_no_such_directive" in out, out
        assert "back as they were" in out, out
        assert config_digest(target) == before  # still down: no file nginx rejects is left
        assert served() == {"upstream-8001"}
    finally:
        with target.sudo():
            target.run(f"rm -f {bad}")
    rc, out = drain("up")
    assert rc == 0 and "changed=1" in out, out
    assert served() == {"upstream-8000", "upstream-8001"}


def test_maintenance_page_when_no_app_server_answers(client, acme_root, host, name, site):
    units = (
        ["lab-upstream@8000", "lab-upstream@8001"]
        if name == "web-debian12"
        else ["lab-upstream-unix"]
    )
    runner = client if name == "web-debian12" else host
    try:
        for unit in units:
            runner.check_output(f"systemctl stop {unit}")
        result = curl(client, f"-D- https://{site}/api/anything")
        assert result.stdout.startswith("HTTP/2 503"), result.stdout
        assert "Down for maintenance" in result.stdout
        assert "strict-transport-security" in result.stdout.lower()
        assert "retry-after: 300" in result.stdout.lower()
    finally:
        for unit in units:
            runner.run(f"systemctl start {unit}")
    # Back as soon as nginx retries the servers (fail_timeout).
    for _ in range(30):
        if status(client, f"https://{site}/api/back") == "200":
            break
        time.sleep(1)
    assert status(client, f"https://{site}/api/back") == "200"
