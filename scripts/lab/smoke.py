"""Smoke test of the local fleet from this machine, through nginx over HTTPS: the certificate
verifies against the fleet's ACME server's root, /health/ready answers 200, a message posted
over HTTPS arrives on a WebSocket, /version names the serving release and host.

Usage: smoke.py ADDRESS NAME CAFILE EMAIL PASSWORD   (the password is read from the file PASSWORD)
"""

import http.client
import json
import socket
import ssl
import sys
import uuid
from pathlib import Path

from websockets.sync.client import connect

address, name, cafile, email, password_file = sys.argv[1:6]
context = ssl.create_default_context(cafile=cafile)


class Connection(http.client.HTTPSConnection):
    """HTTPS to `address`, with `name` for SNI, the Host header and the certificate check."""

    def connect(self) -> None:
        raw = socket.create_connection((address, 443), timeout=10)
        self.sock = context.wrap_socket(raw, server_hostname=name)


def call(
    method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, bytes]:
    conn = Connection(name, 443, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


results: list[tuple[str, bool, str]] = []

status, body = call("GET", "/health/ready")
results.append(("GET /health/ready", status == 200, f"{status} {body.decode()[:80]}"))

status, body = call(
    "POST",
    "/api/auth/token",
    f"username={email}&password={Path(password_file).read_text().strip()}".encode(),
    {"Content-Type": "application/x-www-form-urlencoded"},
)
token = json.loads(body)["access_token"] if status == 200 else ""
results.append(("POST /api/auth/token", status == 200, str(status)))

text = f"smoke {uuid.uuid4()}"
try:
    raw = socket.create_connection((address, 443), timeout=10)
    with connect(
        f"wss://{name}/ws/messages", sock=raw, ssl=context, server_hostname=name, open_timeout=10
    ) as websocket:
        status, _ = call(
            "POST",
            "/api/messages",
            json.dumps({"body": text}).encode(),
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        delivered = False
        while not delivered:
            delivered = text in websocket.recv(timeout=5)
    results.append(("WebSocket message delivered", delivered, f"posted {status}"))
except Exception as exc:  # a failure is the result to report
    results.append(("WebSocket message delivered", False, repr(exc)))

status, body = call("GET", "/version")
results.append(("GET /version", status == 200, body.decode()[:120]))

with (
    socket.create_connection((address, 443), timeout=10) as raw,
    context.wrap_socket(raw, server_hostname=name) as tls,
):
    cert = tls.getpeercert()
issuer = dict(item[0] for item in cert["issuer"])
results.append(
    ("certificate", True, f"issued by {issuer.get('commonName')}, valid until {cert['notAfter']}")
)

for check, ok, detail in results:
    print(f"  {'ok  ' if ok else 'FAIL'} {check:30} {detail}")
sys.exit(0 if all(ok for _, ok, _ in results) else 1)
