"""A uvicorn worker for gunicorn whose graceful stop drops no request.

uvicorn's own stop closes every connection that is not in the middle of a request at that
instant: one just accepted whose request has not been read yet gets a reset, and a WebSocket
whose handshake is under way gets a 500, although their clients did nothing wrong. Restarts and
`max_requests` recycling both stop workers under load, so both turn that into failed requests.

This worker stops accepting first (new connections wait in the socket's queue for the other
workers or the next process), then lets connections that have not sent their request yet, and
WebSocket handshakes under way, finish (answered with `Connection: close`), and gives open
WebSockets a short grace to end by themselves; whatever is left then gets uvicorn's usual stop
(WebSockets a 1012 "service restart" close, which tells clients to reconnect). Idle keep-alive
connections are closed at once, as uvicorn does.

Installed by the app role next to gunicorn.conf.py. It reads uvicorn's connection objects
(`cycle` of the HTTP protocols, the WebSocket protocols' handshake state) and treats anything
it does not recognise the way uvicorn does.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

# Seconds a connection accepted before the stop has to send its request, or a WebSocket to
# complete its handshake (Go's net/http gives new connections up to 5 s as well).
NEW_CONNECTION_GRACE = float(os.environ.get("APP_NEW_CONNECTION_GRACE", "2"))
# Seconds open WebSockets get to close by themselves before they are told to reconnect.
WEBSOCKET_GRACE = float(os.environ.get("APP_WEBSOCKET_GRACE", "5"))
# Open WebSockets one worker holds at most (gunicorn.conf.py sets it from app_worker_websockets).
WEBSOCKETS_PER_WORKER = int(os.environ.get("APP_WORKER_WEBSOCKETS", "500"))


def _state(connection: object) -> str:
    """closed, new (no request or handshake yet), http, websocket or other."""
    transport = getattr(connection, "transport", None)
    if transport is None or transport.is_closing():
        return "closed"
    if hasattr(connection, "cycle"):
        return "new" if connection.cycle is None else "http"
    handshake = getattr(connection, "handshake_completed_event", None)  # websockets
    if handshake is not None:
        return "websocket" if handshake.is_set() else "new"
    if hasattr(connection, "handshake_complete"):  # wsproto
        return "websocket" if connection.handshake_complete else "new"
    return "other"


Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Message, Receive, Send], Awaitable[None]]


class WebSocketCap:
    """Around the app: past `limit` open WebSockets in this worker, a new one is refused with a
    503 and Retry-After (uvicorn's concurrency limit lets upgrades through), so clients
    reconnect to a worker or host with room instead of adding to this one's load."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit, self.open = app, limit, 0

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        if self.open >= self.limit:
            await self.refuse(scope, send)
            return
        self.open += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open -= 1

    @staticmethod
    async def refuse(scope: Message, send: Send) -> None:
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": 1013})  # try again later
            return
        headers = [(b"content-type", b"text/plain"), (b"retry-after", b"1")]
        await send({"type": "websocket.http.response.start", "status": 503, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": b"too many WebSockets\n"})


class GracefulServer(Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        # Connections the event loop accepted just before the close get their protocol (and
        # a place in server_state.connections) on the next turns of the loop.
        await asyncio.sleep(0.1)
        started = time.monotonic()
        while not self.force_exit:
            states = {}
            for connection in list(self.server_state.connections):
                state = _state(connection)
                if state == "http":
                    # Close when idle, or after the response in flight (Connection: close).
                    connection.shutdown()
                states[state] = states.get(state, 0) + 1
            waited = time.monotonic() - started
            waiting_new = states.get("new") and waited < NEW_CONNECTION_GRACE
            waiting_ws = states.get("websocket") and waited < WEBSOCKET_GRACE
            if not (waiting_new or waiting_ws):
                break
            await asyncio.sleep(0.05)
        await super().shutdown(sockets=sockets)


class GracefulUvicornWorker(UvicornWorker):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # gunicorn's worker_connections, which uvicorn-worker does not pass on: past it, uvicorn
        # answers 503 to a new connection or WebSocket instead of taking on more than it serves.
        self.config.limit_concurrency = self.cfg.worker_connections

    async def _serve(self) -> None:
        self.config.app = WebSocketCap(self.wsgi, WEBSOCKETS_PER_WORKER)
        server = GracefulServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
