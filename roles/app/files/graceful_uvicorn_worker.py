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

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

# Seconds a connection accepted before the stop has to send its request, or a WebSocket to
# complete its handshake (Go's net/http gives new connections up to 5 s as well).
NEW_CONNECTION_GRACE = float(os.environ.get("APP_NEW_CONNECTION_GRACE", "2"))
# Seconds open WebSockets get to close by themselves before they are told to reconnect.
WEBSOCKET_GRACE = float(os.environ.get("APP_WEBSOCKET_GRACE", "5"))


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
    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = GracefulServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
