"""Background jobs: enqueued here, run by `app-worker` (app.jobs)."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from app.auth import CurrentUser
from app.deps import JobsDep, PoolDep
from app.jobs import record_run
from app.models import ErrorResponse

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

# What RQ takes for a job id.
JobId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class JobIn(BaseModel):
    # Strict: JSON's true is not a number of seconds.
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The caller's id for the job.")
    seconds: float = Field(default=0.5, ge=0, le=10, description="How long the job works.")


class JobRun(BaseModel):
    id: str
    runs: int
    release: str
    host: str


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        400: {"model": ErrorResponse, "description": "Body is not valid JSON."},
        401: {"model": ErrorResponse, "description": "Missing or bad token."},
        503: {"model": ErrorResponse, "description": "Redis, which holds the queue, is down."},
    },
)
async def enqueue_job(job: JobIn, _user: CurrentUser, jobs: JobsDep) -> dict[str, str]:
    """Queues a job that works for `seconds` and records its run."""
    # RQ's client is synchronous: off the event loop.
    await run_in_threadpool(jobs.enqueue, record_run, job.id, job.seconds, job_id=job.id)
    return {"id": job.id}


@router.get("/{job_id}", response_model=JobRun, responses={404: {"model": ErrorResponse}})
async def job_run(job_id: JobId, pool: PoolDep) -> JobRun:
    """How often the job has run, on which release and host; 404 until it has."""
    row = await pool.fetchrow(
        "SELECT job_id AS id, runs, release, host FROM job_runs WHERE job_id = $1", job_id
    )
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no run of this job yet")
    return JobRun(**dict(row))
