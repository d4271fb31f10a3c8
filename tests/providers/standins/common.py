"""A small stateful JSON API server on loopback, the base of the provider stand-ins."""

import base64
import hashlib
import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Reply = tuple[int, Any]
Route = tuple[str, re.Pattern[str], Callable[..., Reply]]


def now() -> str:
    """The current time as the providers write it (ISO 8601, UTC)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def md5_fingerprint(public_key: str) -> str:
    """The MD5 fingerprint both providers give an OpenSSH public key (aa:bb:...)."""
    digest = hashlib.md5(base64.b64decode(public_key.split()[1]), usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, 32, 2))


class ApiStandIn:
    """Answers the routes a subclass registers; everything else is a logged 404.

    Requests must carry `Authorization: Bearer <token>`. Every request is recorded in
    `requests` as (method, path) and anything unknown in `unknown`, so a test can tell
    when a plugin or module asks for something the stand-in does not implement.
    """

    prefix = ""

    def __init__(self, token: str) -> None:
        self.token = token
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.unknown: list[tuple[str, str]] = []
        self.routes: list[Route] = []
        self._next_id = 1000
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ helpers
    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def route(self, method: str, pattern: str, handler: Callable[..., Reply]) -> None:
        self.routes.append((method, re.compile(f"^{self.prefix}{pattern}$"), handler))

    def writes(self) -> list[tuple[str, str]]:
        """The requests that would change something at the provider."""
        return [r for r in self.requests if r[0] in ("POST", "PUT", "DELETE")]

    # ------------------------------------------------------------------ server
    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.prefix}"

    def start(self) -> "ApiStandIn":
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    body = {}
                query = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(split.query).items()}
                status, payload = standin.dispatch(
                    self.command, split.path, query, body, self.headers.get("Authorization", "")
                )
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def dispatch(
        self, method: str, path: str, query: dict[str, Any], body: Any, auth: str
    ) -> Reply:
        with self.lock:
            self.requests.append((method, path))
            if auth != f"Bearer {self.token}":
                return self.unauthorized()
            for verb, pattern, handler in self.routes:
                match = pattern.match(path)
                if verb == method and match:
                    return handler(query, body, *match.groups())
            self.unknown.append((method, path))
            return self.not_found(path)

    def unauthorized(self) -> Reply:
        raise NotImplementedError

    def not_found(self, what: str) -> Reply:
        raise NotImplementedError
