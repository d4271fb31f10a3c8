"""Gunicorn settings for the app: `gunicorn -c python:app.gunicorn_conf app.main:app`.

A host's own config can start with `from app.gunicorn_conf import *` and override what
differs (bind, workers). Gunicorn itself still reads WEB_CONCURRENCY and GUNICORN_CMD_ARGS.
"""

import os
from pathlib import Path
from typing import Protocol

from prometheus_client import multiprocess

worker_class = "uvicorn_worker.UvicornWorker"
bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# In-flight requests get this long to finish after SIGTERM before workers are killed.
graceful_timeout = 30
timeout = 60
keepalive = 5
# The app writes its own JSON access lines, with the request id.
accesslog = None
errorlog = "-"
# nginx on the same host is the only proxy whose X-Forwarded-* headers are believed.
forwarded_allow_ips = "127.0.0.1,::1"


class _Worker(Protocol):
    pid: int


def _multiproc_dir() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


def on_starting(server: object) -> None:
    # Samples left by a previous run would be added to this one's.
    directory = _multiproc_dir()
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()


def child_exit(server: object, worker: _Worker) -> None:
    if _multiproc_dir() is not None:
        multiprocess.mark_process_dead(worker.pid)
