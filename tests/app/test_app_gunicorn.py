"""The production server: gunicorn with uvicorn workers, talked to over a unix socket."""

import asyncio
import contextlib
import json
import signal
import subprocess
import time
from pathlib import Path

import httpx
import websockets
from app_support import BIN, REPO, UserCreds, bearer, issue_token, run_async, wait_ready

CONF = Path(__file__).with_name("gunicorn_test_conf.py")


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(line) for line in out.stdout.split()]


def test_gunicorn_with_uvicorn_workers(
    app_env: dict[str, str], alice: UserCreds, tmp_path: Path
) -> None:
    # Unix socket paths are limited to ~100 bytes; tmp_path can be longer.
    sock = Path(f"/tmp/app-test-{tmp_path.name[-20:]}-{time.monotonic_ns()}.sock")
    metrics_dir = tmp_path / "prometheus"
    env = {
        **app_env,
        "TEST_GUNICORN_SOCKET": str(sock),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(CONF), "app.main:app"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    transport = httpx.HTTPTransport(uds=str(sock))
    try:
        deadline = time.monotonic() + 30
        while not sock.exists() and time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            time.sleep(0.1)
        wait_ready("http://app", process, log_path, transport=transport)
        assert len(_children(process.pid)) == 2

        with httpx.Client(base_url="http://app", transport=transport, timeout=10) as http:
            assert http.get("/health").json() == {"status": "ok"}
            assert http.get("/version").json()["release"] == app_env["APP_RELEASE_ID"]
            for _ in range(30):
                assert http.get("/health").status_code == 200
            # Any worker answers for all of them in multiprocess mode.
            metrics = http.get("/metrics").text
            line = next(
                line
                for line in metrics.splitlines()
                if line.startswith('http_requests_total{method="GET",route="/health",status="200"}')
            )
            assert float(line.rsplit(" ", 1)[1]) >= 31
            token = issue_token(http, alice)

        async def websocket_then_shutdown() -> tuple[str, int | None]:
            async with websockets.unix_connect(str(sock), "ws://app/ws/messages") as ws:
                await asyncio.sleep(0.2)
                async with httpx.AsyncClient(
                    base_url="http://app", transport=httpx.AsyncHTTPTransport(uds=str(sock))
                ) as http:
                    created = await http.post(
                        "/api/messages", json={"body": "via gunicorn"}, headers=bearer(token)
                    )
                    assert created.status_code == 201
                body = json.loads(await asyncio.wait_for(ws.recv(), 5))["body"]
                # Graceful stop: the client is told the server is going away.
                process.send_signal(signal.SIGTERM)
                with contextlib.suppress(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 10)
                return body, ws.close_code

        body, close_code = run_async(websocket_then_shutdown())
        assert body == "via gunicorn"
        assert close_code == 1001
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = log_path.read_text()
    assert "Traceback" not in log, log
    assert not sock.exists()
