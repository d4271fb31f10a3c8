"""Background jobs: enqueued over the API, run by `app-worker` (RQ), each recorded once; a worker
stopped with SIGTERM mid-job finishes it first, and one stopped just as a job is handed to it runs
that job; prune-messages deletes only old messages."""

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from app_support import BIN, AppServer, Database, StartServer, bearer, run_async
from redis import Redis
from rq import Queue, Worker

# A queue of this file's own: other tests (schemathesis) enqueue jobs of their own.
QUEUE_ENV = {"APP_REDIS_PREFIX": f"jobs-{uuid.uuid4().hex[:8]}"}


@pytest.fixture(scope="module")
def jobs_server(start_server: StartServer) -> AppServer:
    return start_server(**QUEUE_ENV)


@pytest.fixture
def client(jobs_server: AppServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=jobs_server.url, timeout=10) as http:
        yield http


@pytest.fixture
def worker(app_env: dict[str, str], tmp_path) -> Iterator[subprocess.Popen[str]]:
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "app-worker")], env=app_env | QUEUE_ENV, stdout=log, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    yield process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    log.close()


def wait_run(client: httpx.Client, job_id: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/api/jobs/{job_id}")
        if response.status_code == 200:
            return response.json()
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not run in {timeout}s")


def test_enqueued_jobs_run_once(client: httpx.Client, alice_token: str, worker, app_env) -> None:
    ids = [f"test-{uuid.uuid4().hex[:12]}" for _ in range(5)]
    for job_id in ids:
        response = client.post(
            "/api/jobs", json={"id": job_id, "seconds": 0}, headers=bearer(alice_token)
        )
        assert response.status_code == 202, response.text
    for job_id in ids:
        run = wait_run(client, job_id)
        assert run["runs"] == 1 and run["release"] == app_env["APP_RELEASE_ID"], run


def test_a_job_needs_a_token(client: httpx.Client) -> None:
    assert client.post("/api/jobs", json={"id": "anonymous"}).status_code == 401


def test_sigterm_mid_job_lets_the_job_finish(
    client: httpx.Client, alice_token: str, worker
) -> None:
    job_id = f"test-{uuid.uuid4().hex[:12]}"
    response = client.post(
        "/api/jobs", json={"id": job_id, "seconds": 3}, headers=bearer(alice_token)
    )
    assert response.status_code == 202
    time.sleep(1.5)  # the job is working now
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert client.get(f"/api/jobs/{job_id}").json()["runs"] == 1


def test_sigterm_as_a_job_is_handed_over_runs_the_job(
    client: httpx.Client, alice_token: str, worker, app_env
) -> None:
    """The worker is frozen while it waits for a job; the job is enqueued, and Redis hands it to
    the worker's waiting connection at once; SIGTERM comes before the worker has read it. With
    RQ's own idle shutdown, which raises from the signal handler, the job is left in the queue's
    intermediate list and never runs."""
    redis = Redis.from_url(app_env["APP_REDIS_URL"])
    jobs = Queue(f"{QUEUE_ENV['APP_REDIS_PREFIX']}:jobs", connection=redis)
    deadline = time.monotonic() + 20
    while not [w for w in Worker.all(queue=jobs) if w.get_state() == "idle"]:
        assert time.monotonic() < deadline, "the worker never started waiting for jobs"
        time.sleep(0.1)
    time.sleep(0.5)  # inside its wait for a job now
    worker.send_signal(signal.SIGSTOP)
    job_id = f"test-{uuid.uuid4().hex[:12]}"
    try:
        response = client.post(
            "/api/jobs", json={"id": job_id, "seconds": 0}, headers=bearer(alice_token)
        )
        assert response.status_code == 202, response.text
        time.sleep(0.3)  # Redis has moved it to the frozen worker's wait
        assert jobs.count == 0
        worker.send_signal(signal.SIGTERM)
    finally:
        worker.send_signal(signal.SIGCONT)
    assert worker.wait(timeout=30) == 0
    assert wait_run(client, job_id, timeout=5)["runs"] == 1


async def _messages(dsn: str, ages_in_days: list[int]) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        author = await conn.fetchval(
            "INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id",
            f"prune-{uuid.uuid4().hex[:8]}@example.com",
        )
        return [
            await conn.fetchval(
                "INSERT INTO messages (body, author_id, created_at) "
                "VALUES ('old', $1, now() - make_interval(days => $2)) RETURNING id",
                author,
                age,
            )
            for age in ages_in_days
        ]
    finally:
        await conn.close()


async def _existing(dsn: str, ids: list[int]) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT id FROM messages WHERE id = ANY($1) ORDER BY id", ids)
        return [row["id"] for row in rows]
    finally:
        await conn.close()


def test_prune_messages_deletes_only_old_ones(database: Database, app_env) -> None:
    old, recent = run_async(_messages(database.dsn, [40, 2]))
    result = subprocess.run(
        [str(BIN / "app-admin"), "prune-messages", "--older-than-days", "30"],
        env=app_env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("deleted "), result.stdout
    assert run_async(_existing(database.dsn, [old, recent])) == [recent]
    assert os.environ.get("APP_DATABASE_URL") != database.dsn  # the env went to the command only
