"""WebSocket fan-out across processes, slow clients, and clean-up of departed clients."""

import asyncio
import json
import re
import socket
import time
from collections.abc import Callable

import httpx
import pytest
import websockets
from app_support import AppServer, Services, StartServer, bearer, run_async, wait_ready
from redis.asyncio import Redis


def _gauge(server_url: str, name: str) -> float:
    text = httpx.get(f"{server_url}/metrics", timeout=5).text
    match = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_fan_out_between_two_processes(
    server: AppServer, server_b: AppServer, alice_token: str
) -> None:
    wait_ready(server.url)
    wait_ready(server_b.url)

    async def scenario() -> tuple[list[dict[str, object]], list[dict[str, object]], list[int]]:
        async with (
            websockets.connect(server.ws_url) as on_a,
            websockets.connect(server_b.ws_url) as on_b,
            httpx.AsyncClient(timeout=10) as http,
        ):
            await asyncio.sleep(0.2)
            posted = []
            # One message posted through each process; both clients see both.
            for url, body in ((server.url, "from a"), (server_b.url, "from b")):
                response = await http.post(
                    f"{url}/api/messages", json={"body": body}, headers=bearer(alice_token)
                )
                assert response.status_code == 201
                posted.append(response.json()["id"])
            got_a = [json.loads(await asyncio.wait_for(on_a.recv(), 5)) for _ in posted]
            got_b = [json.loads(await asyncio.wait_for(on_b.recv(), 5)) for _ in posted]
            return got_a, got_b, posted

    got_a, got_b, posted = run_async(scenario())
    assert [m["id"] for m in got_a] == posted
    assert got_a == got_b
    assert [m["body"] for m in got_b] == ["from a", "from b"]


async def _until(predicate: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


def _raw_ws_client(port: int) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads again."""
    sock = socket.socket()
    # A tiny receive window, so the server's buffers fill after a few hundred kB.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        b"GET /ws/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


@pytest.fixture(scope="module")
def small_queue_server(start_server: StartServer) -> AppServer:
    server: AppServer = start_server(APP_WS_QUEUE_SIZE="16")
    return server


def test_slow_client_is_dropped_without_blocking_others(
    small_queue_server: AppServer, app_env: dict[str, str], services: Services
) -> None:
    """A client that stops reading is disconnected once its queue overflows, while a
    client that keeps up gets every message in order.

    Messages are published straight to the app's Redis channel, as other workers do: it
    takes megabytes to fill the kernel's socket buffers before the server even notices.
    """
    server = small_queue_server
    channel = f"{app_env['APP_REDIS_PREFIX']}:messages"
    slow = _raw_ws_client(server.port)
    padding = "\N{GRINNING FACE}" * 2000  # 8 kB of UTF-8 per message

    async def scenario() -> tuple[int, list[int]]:
        received: list[int] = []
        redis = Redis.from_url(services.redis_url)
        async with websockets.connect(server.ws_url, max_queue=None) as fast:

            async def read() -> None:
                async for frame in fast:
                    received.append(json.loads(frame)["n"])

            reader = asyncio.create_task(read())
            await asyncio.sleep(0.2)
            sent = 0
            try:
                for batch in range(200):
                    for _ in range(10):
                        payload = json.dumps({"n": sent, "pad": padding}, ensure_ascii=False)
                        await redis.publish(channel, payload)
                        sent += 1
                    # The fast client keeps up: never more than a batch behind.
                    await _until(lambda target=sent: len(received) >= target, 10)
                    if batch % 5 == 4 and _slow_drops(server) >= 1:
                        break
            finally:
                reader.cancel()
                await redis.aclose()
        return sent, received

    try:
        sent, received = run_async(scenario())
    finally:
        slow.close()
    assert _slow_drops(server) == 1.0
    assert received == list(range(sent))
    # Both departed clients are cleaned up.
    _wait_for(lambda: _gauge(server.url, "websocket_clients") == 0.0)


def _slow_drops(server: AppServer) -> float:
    return _gauge(server.url, "websocket_slow_client_disconnects_total")


def test_disconnected_clients_are_cleaned_up(server: AppServer) -> None:
    async def scenario() -> float:
        async with websockets.connect(server.ws_url), websockets.connect(server.ws_url):
            await asyncio.sleep(0.2)
            return _gauge(server.url, "websocket_clients")

    assert run_async(scenario()) >= 2.0
    _wait_for(lambda: _gauge(server.url, "websocket_clients") == 0.0)


def test_client_messages_are_ignored(server: AppServer, alice_token: str) -> None:
    async def scenario() -> str:
        async with websockets.connect(server.ws_url) as ws:
            await ws.send("hello?")
            await asyncio.sleep(0.1)
            async with httpx.AsyncClient(base_url=server.url) as http:
                await http.post(
                    "/api/messages", json={"body": "still here"}, headers=bearer(alice_token)
                )
            return json.loads(await asyncio.wait_for(ws.recv(), 5))["body"]

    assert run_async(scenario()) == "still here"
