"""Steady load through nginx over HTTPS, recording every response; runs on fleet-client with
Debian's python3 and python3-websockets only.

Five kinds of traffic, each request on a new TLS connection (nothing hides behind a kept-alive
one): `read` (GET /api/messages, the cached list), `version` (GET /version, which names the
release and host that answered), `write` (POST /api/messages with a bearer token), `job`
(POST /api/jobs: a background job of half a second, its id in the record's detail, which the
app's workers run and record) and `ws` (a WebSocket session that must receive, within 5 s, a
message it posts itself: it crosses the web host, an app host, Redis pub/sub and maybe the
other app host).

One JSON line per response: {"t": unix time, "kind", "ok", "ms", "detail"}. Runs until the
stop file exists.

Usage: load.py HOST CAFILE TOKEN OUTFILE STOPFILE [PACE]
PACE (default 1) stretches the pauses between requests: the reliability run uses 6, a sixth
of the benchmark's rate (about 13 requests a second, a few hundred across each batch's drain and
switch), and leaves the CPU to what is under test: at pace 4 the load took about a quarter of a
core, client and servers together, an eighth of the suite's two cores for the fleet's whole run.
"""

import asyncio
import http.client
import json
import os
import ssl
import sys
import threading
import time
import uuid

import websockets

HOST, CAFILE, TOKEN, OUTFILE, STOPFILE = sys.argv[1:6]
PACE = float(sys.argv[6]) if len(sys.argv) > 6 else 1.0
CONTEXT = ssl.create_default_context(cafile=CAFILE)
LOCK = threading.Lock()
OUT = open(OUTFILE, "a", buffering=1)  # noqa: SIM115 - closed at exit


def record(kind: str, started: float, ok: bool, detail: str) -> None:
    line = {"t": started, "kind": kind, "ok": ok, "ms": round((time.time() - started) * 1000, 2)}
    line["detail"] = detail
    with LOCK:
        OUT.write(json.dumps(line) + "\n")


def request(method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPSConnection(HOST, 443, context=CONTEXT, timeout=30)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def http_loop(kind: str, method: str, path: str, pause: float) -> None:
    while not os.path.exists(STOPFILE):
        started = time.time()
        job = f"load-{uuid.uuid4().hex[:16]}"
        try:
            body = (
                json.dumps({"id": job, "seconds": 0.5}).encode()
                if kind == "job"
                else json.dumps({"body": f"load {uuid.uuid4()}"}).encode()
                if method == "POST"
                else None
            )
            status, payload = request(method, path, body)
            ok = status in (200, 201, 202)
            detail = job if kind == "job" and ok else str(status)
            if kind == "version" and ok:
                answer = json.loads(payload)
                detail = f"{answer['release']}@{answer['host']}"
            record(kind, started, ok, detail)
        except Exception as exc:  # every failure is a result to record
            record(kind, started, False, repr(exc)[:200])
        time.sleep(pause)


async def ws_session() -> None:
    started = time.time()
    text = f"ws {uuid.uuid4()}"
    try:
        async with websockets.connect(
            f"wss://{HOST}/ws/messages", ssl=CONTEXT, open_timeout=10, close_timeout=2
        ) as socket:
            loop = asyncio.get_running_loop()
            status, _ = await loop.run_in_executor(
                None, request, "POST", "/api/messages", json.dumps({"body": text}).encode()
            )
            if status != 201:
                record("ws", started, False, f"post {status}")
                return
            async with asyncio.timeout(5):
                while True:
                    frame = await socket.recv()
                    if text in frame:
                        break
        record("ws", started, True, "delivered")
    except Exception as exc:  # every failure is a result to record
        record("ws", started, False, repr(exc)[:200])


def ws_loop(pause: float) -> None:
    async def run() -> None:
        while not os.path.exists(STOPFILE):  # noqa: ASYNC240 - a stat between sessions
            await ws_session()
            await asyncio.sleep(pause)

    asyncio.run(run())


threads = [
    threading.Thread(target=http_loop, args=("read", "GET", "/api/messages?limit=20", 0.02 * PACE)),
    threading.Thread(target=http_loop, args=("version", "GET", "/version", 0.05 * PACE)),
    threading.Thread(target=http_loop, args=("write", "POST", "/api/messages", 0.1 * PACE)),
    threading.Thread(target=http_loop, args=("job", "POST", "/api/jobs", 0.2 * PACE)),
    threading.Thread(target=ws_loop, args=(0.2 * PACE,)),
]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
OUT.close()
