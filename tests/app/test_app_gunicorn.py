"""The production server: gunicorn with uvicorn workers, talked to over a unix socket."""

import asyncio
import contextlib
import json
import signal
import subprocess
from pathlib import Path

import httpx
import websockets
from app_support import REPO, UserCreds, bearer, gunicorn_on_socket, issue_token, run_async


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(line) for line in out.stdout.split()]


def test_gunicorn_with_uvicorn_workers(
    app_env: dict[str, str], alice: UserCreds, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "prometheus"
    env = {**app_env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with gunicorn_on_socket(env, tmp_path) as (process, sock, log_path):
        transport = httpx.HTTPTransport(uds=str(sock))
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
    log = log_path.read_text()
    assert "Traceback" not in log, log
    assert not sock.exists()


def test_the_roles_worker_caps_open_websockets(app_env: dict[str, str], tmp_path: Path) -> None:
    """One worker of the app role's own class, allowed two WebSockets: a third gets 503 and
    Retry-After (uvicorn's own limit lets upgrades through); with one closed, there is room."""
    worker = [
        "--pythonpath",
        str(REPO / "ansible_collections/fastapi_vps/stack/roles/app/files"),
        "--worker-class",
        "graceful_uvicorn_worker.GracefulUvicornWorker",
        "--workers",
        "1",
    ]
    env = {**app_env, "APP_WORKER_WEBSOCKETS": "2"}
    with gunicorn_on_socket(env, tmp_path, *worker) as (_, sock, _):
        uri = "ws://app/ws/messages"

        async def websockets_past_the_cap() -> tuple[int, str, bool]:
            first, second = (websockets.unix_connect(str(sock), uri) for _ in range(2))
            async with first, second:
                try:
                    async with websockets.unix_connect(str(sock), uri):
                        raise AssertionError("a third WebSocket was accepted")
                except websockets.InvalidStatus as refused:
                    response = refused.response
            for _ in range(50):  # the closed ones' handlers end just after the close
                with contextlib.suppress(websockets.InvalidStatus):
                    async with websockets.unix_connect(str(sock), uri):
                        return response.status_code, response.headers["Retry-After"], True
                await asyncio.sleep(0.1)
            return response.status_code, response.headers["Retry-After"], False

        assert run_async(websockets_past_the_cap()) == (503, "1", True)
