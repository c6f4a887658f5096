"""Warm a web worker up before its first request: what that request would otherwise pay for.

A new gunicorn worker compiles each Jinja template the first time a page uses it and opens its
first database connection inside the first request that needs one: together most of a second of
a coordinator's first board after a deploy or a worker's recycling (bench/office_pages.py,
"board, first request of a process"). gunicorn_config.post_worker_init calls warm_up once the
worker has loaded the app, before it accepts a request; the demo and the tests do not need it.
"""

from __future__ import annotations

import logging
import time

from flask import Flask
from sqlalchemy import text

log = logging.getLogger(__name__)


def warm_up(app: Flask) -> float:
    """Compile every HTML template and open one database connection; the seconds it took."""
    began = time.perf_counter()
    templates = [name for name in app.jinja_env.list_templates() if name.endswith(".html")]
    for name in templates:
        app.jinja_env.get_template(name)
    try:
        with app.extensions["database"].engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # the database may be down at start: the spool takes over
        log.warning("warm-up: no database connection (%s)", type(error).__name__)
    seconds = time.perf_counter() - began
    log.info("warmed up: %d templates compiled in %.2f s", len(templates), seconds)
    return seconds
