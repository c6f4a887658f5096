"""Warm a web worker up before its first request: what that request would otherwise pay for.

A new gunicorn worker compiles each Jinja template the first time a page uses it, opens its
first database connection and parses the board's day index (10,000 entries on a county's day)
inside the first request that needs them: together most of a second of a coordinator's first
board after a deploy or a worker's recycling (bench/office_pages.py,
"board, first request of a process"). gunicorn_config.post_worker_init calls warm_up once the
worker has loaded the app, before it accepts a request; the demo and the tests do not need it.
"""

from __future__ import annotations

import logging
import time

from flask import Flask
from sqlalchemy import text

from ivr_gateway.office.board_index import stored_index

log = logging.getLogger(__name__)


def warm_up(app: Flask) -> float:
    """Compile every HTML template, open one database connection and parse today's stored board
    index (the scheduler's, if there is one); the seconds it took."""
    began = time.perf_counter()
    templates = [name for name in app.jinja_env.list_templates() if name.endswith(".html")]
    for name in templates:
        app.jinja_env.get_template(name)
    try:
        database = app.extensions["database"]
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        settings, clock = app.extensions["settings"], app.extensions["clock"]
        with database.unit_of_work() as session:  # today's board index, parsed once
            now = clock.now()
            stored_index(session, now.astimezone(settings.tz).date(), now)
    except Exception as error:  # the database may be down at start: the spool takes over
        log.warning("warm-up: no database connection (%s)", type(error).__name__)
    seconds = time.perf_counter() - began
    log.info("warmed up: %d templates compiled in %.2f s", len(templates), seconds)
    return seconds
