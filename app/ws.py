"""Real-time fan-out: Redis pub/sub carries each new message to every worker on every host,
and each worker hands it to its own WebSocket clients through bounded per-client queues."""

import asyncio
import contextlib
import logging
import signal
import threading
from types import FrameType
from typing import Annotated

from fastapi import APIRouter, Depends, WebSocket
from redis.asyncio import Redis
from starlette.requests import HTTPConnection

from app.cache import REDIS_FAILURES
from app.observability import MESSAGES_FANNED_OUT, WS_CLIENTS, WS_SLOW_DISCONNECTS

log = logging.getLogger(__name__)

GOING_AWAY = 1001
POLICY_VIOLATION = 1008
CLOSE_TIMEOUT = 2.0


class Client:
    def __init__(self, websocket: WebSocket, queue_size: int) -> None:
        self.websocket = websocket
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self.close_code: int | None = None
        self.close_reason = ""
        self._closing = asyncio.Event()

    def offer(self, payload: str) -> bool:
        """Queue without waiting: a client that fell behind is disconnected, not waited for."""
        if self.close_code is not None:
            return False
        try:
            self.queue.put_nowait(payload)
        except asyncio.QueueFull:
            WS_SLOW_DISCONNECTS.inc()
            self.request_close(POLICY_VIOLATION, "client too slow")
            return False
        return True

    def request_close(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
            self._closing.set()

    async def _send_loop(self) -> None:
        while True:
            payload = await self.queue.get()
            await self.websocket.send_text(payload)

    async def _receive_loop(self) -> None:
        # Clients have nothing to say; reading is how a disconnect is noticed.
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return

    async def serve(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        receiver = asyncio.create_task(self._receive_loop())
        closing = asyncio.create_task(self._closing.wait())
        tasks = {sender, receiver, closing}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if receiver in done or sender in done:
            return  # the peer is gone; nothing to close
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.websocket.close(self.close_code or GOING_AWAY, self.close_reason)


class Hub:
    def __init__(self, redis: Redis, channel: str, queue_size: int) -> None:
        self._redis = redis
        self.channel = channel
        self._queue_size = queue_size
        self._clients: set[Client] = set()
        self._listener: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    @property
    def client_count(self) -> int:
        return len(self._clients)

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="pubsub-listener")

    async def stop(self) -> None:
        self.close_all(GOING_AWAY, "server shutting down")
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)

    async def publish(self, payload: str) -> None:
        await self._redis.publish(self.channel, payload)

    def close_all(self, code: int, reason: str) -> None:
        for client in list(self._clients):
            client.request_close(code, reason)

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        client = Client(websocket, self._queue_size)
        self._clients.add(client)
        WS_CLIENTS.inc()
        try:
            await client.serve()
        finally:
            self._clients.discard(client)
            WS_CLIENTS.dec()

    def _fan_out(self, payload: str) -> None:
        delivered = sum(client.offer(payload) for client in list(self._clients))
        MESSAGES_FANNED_OUT.inc(delivered)

    async def _listen(self) -> None:
        # Reconnects forever: a Redis restart must not end real-time delivery for good.
        delay = 0.1
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    self.subscribed.set()
                    delay = 0.1
                    while True:
                        message = await pubsub.get_message(timeout=5.0)
                        if message is not None and message["type"] == "message":
                            self._fan_out(message["data"].decode())
                            # Buffered messages are read without yielding; let the senders
                            # drain between them so a burst does not overflow fast clients.
                            await asyncio.sleep(0)
            except asyncio.CancelledError:
                raise
            except REDIS_FAILURES as exc:
                self.subscribed.clear()
                log.warning("pub/sub connection lost", extra={"error": type(exc).__name__})
            except Exception:
                self.subscribed.clear()
                log.exception("pub/sub listener failed")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


def install_shutdown_hook(hub: Hub) -> None:
    """Close WebSockets with 1001 (going away) as soon as the server is told to stop.

    The server would otherwise close them itself with 1012 while shutting down; this runs
    first because it is scheduled from the signal handler, before the server's own loop
    notices the signal. The server restores its handlers when it exits, dropping this one.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(
            signum: int,
            frame: FrameType | None,
            previous: signal.Handlers | object = previous,
        ) -> None:
            loop.call_soon_threadsafe(hub.close_all, GOING_AWAY, "server shutting down")
            if callable(previous):
                previous(signum, frame)

        signal.signal(sig, handler)


def get_hub(connection: HTTPConnection) -> Hub:
    hub: Hub = connection.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]

router = APIRouter()


@router.websocket("/ws/messages")
async def messages_socket(websocket: WebSocket, hub: HubDep) -> None:
    """Every new message, as the same JSON the REST API returns, to every connected client."""
    await hub.serve(websocket)
