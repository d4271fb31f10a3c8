"""`hello.main:app`: liveness and version, nothing else."""

import os
import socket

from fastapi import FastAPI

app = FastAPI(title="hello")


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/version")
async def version() -> dict[str, str]:
    return {"release": os.environ.get("APP_RELEASE_ID", "unknown"), "host": socket.gethostname()}
