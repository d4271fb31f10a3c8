"""Helpers shared by the app's tests: services, databases, users and app server processes."""

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

REPO = Path(__file__).resolve().parents[2]
SERVICES_SCRIPT = REPO / "scripts" / "app-services.sh"
BIN = Path(sys.executable).parent
T = TypeVar("T")


@dataclass(frozen=True)
class Services:
    admin_dsn: str
    redis_url: str


@dataclass(frozen=True)
class Database:
    dsn: str
    name: str


@dataclass(frozen=True)
class UserCreds:
    email: str
    password: str


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class AppServer:
    """One uvicorn process serving app.main:app on a loopback port."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/messages"

    def start(self) -> "AppServer":
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(BIN / "uvicorn"),
                "app.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--timeout-graceful-shutdown",
                "10",
            ],
            cwd=REPO,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_ready(self.url, self.process, self.log_path)
        return self

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_lines_with(self, text: str, timeout: float = 10.0) -> list[str]:
        """The log lines holding text, waiting for the first: the app logs after it responds."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [line for line in self.log().splitlines() if text in line]
            if lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


def wait_ready(
    url: str,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
    timeout: float = 30.0,
    transport: httpx.HTTPTransport | None = None,
) -> None:
    """Until /health/ready says 200: the pool, Redis and the pub/sub subscription are up."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(base_url=url, timeout=3, transport=transport) as client:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                log = log_path.read_text(errors="replace") if log_path else ""
                raise AssertionError(f"server exited with {process.returncode}:\n{log}")
            with contextlib.suppress(httpx.TransportError):
                response = client.get("/health/ready")
                if response.status_code == 200:
                    return
                last = response.text
            time.sleep(0.2)
    raise AssertionError(f"not ready after {timeout}s: {last}")


def alembic(database: Database, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "APP_DATABASE_URL": database.dsn, "APP_ENVIRONMENT": "test"}
    return subprocess.run(
        [str(BIN / "alembic"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def create_user(app_env: dict[str, str], email: str, password: str) -> str:
    result = subprocess.run(
        [str(BIN / "app-admin"), "create-user", email, "--password-stdin"],
        input=password + "\n",
        env=app_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


StartServer = Callable[..., AppServer]


def issue_token(http: httpx.Client, creds: UserCreds) -> str:
    response = http.post(
        "/api/auth/token", data={"username": creds.email, "password": creds.password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def services_ctl(action: str, service: str) -> None:
    result = subprocess.run(
        [str(SERVICES_SCRIPT), action, service],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@contextlib.contextmanager
def gunicorn_on_socket(
    env: dict[str, str], tmp_path: Path, *args: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """gunicorn with tests/app/gunicorn_test_conf.py (and *args) on a fresh unix socket, ready;
    yields the process, the socket and the log. Killed afterwards with its workers."""
    # Unix socket paths are limited to ~100 bytes; tmp_path can be longer.
    sock = Path(f"/tmp/app-test-{tmp_path.name[-20:]}-{time.monotonic_ns()}.sock")
    log_path = tmp_path / f"gunicorn-{time.monotonic_ns()}.log"
    conf = Path(__file__).with_name("gunicorn_test_conf.py")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(conf), *args, "app.main:app"],
            cwd=REPO,
            env={**env, "TEST_GUNICORN_SOCKET": str(sock)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, which its workers share
        )
    try:
        deadline = time.monotonic() + 30
        while not sock.exists() and time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            time.sleep(0.1)
        wait_ready("http://app", process, log_path, transport=httpx.HTTPTransport(uds=str(sock)))
        yield process, sock, log_path
    finally:
        # The whole group: a master killed alone leaves its workers running, with the socket.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
