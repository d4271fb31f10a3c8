"""`app-worker`: takes jobs from the app's queue until SIGTERM, then finishes the job in hand.

Its settings come from the app's environment, so the Redis password stays off its command line.
"""

import logging
import sys

from pydantic import ValidationError
from rq import Worker

from app.jobs import queue
from app.settings import Settings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    try:
        settings = Settings.load()
    except ValidationError as exc:
        sys.exit(f"app-worker: invalid settings: {exc}")
    jobs = queue(settings, patient=True)
    Worker([jobs], connection=jobs.connection).work(with_scheduler=False)
