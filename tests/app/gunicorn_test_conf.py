"""Gunicorn config for the test: the packaged defaults, two workers on a unix socket."""

import os

from app.gunicorn_conf import *  # noqa: F403

bind = ["unix:" + os.environ["TEST_GUNICORN_SOCKET"]]
workers = 2
graceful_timeout = 10
