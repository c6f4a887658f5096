"""A worker's warm-up: every template compiled, a connection opened and today's board index parsed
before its first request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from ivr_gateway import gunicorn_config
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.office import board_index
from ivr_gateway.office.board_index import run_board_index
from ivr_gateway.office.escalation_alerts import EscalationAlertSource
from ivr_gateway.warm_up import warm_up
from tests.factories import make_adult, make_care_worker, make_planned_visit


@contextmanager
def templates_read(app: Flask) -> Iterator[list[str]]:
    """The names of the templates the app reads from disk (to compile them) in the block."""
    read: list[str] = []
    loader = app.jinja_env.loader
    assert loader is not None
    real = loader.get_source

    def counting(environment: object, name: str) -> object:
        read.append(name)
        return real(environment, name)  # type: ignore[arg-type]

    loader.get_source = counting  # type: ignore[method-assign]
    try:
        yield read
    finally:
        del loader.get_source  # type: ignore[method-assign]


def test_warm_up_compiles_every_page_template_once(app: Flask) -> None:
    pages = [n for n in app.jinja_env.list_templates() if n.endswith(".html")]
    assert "office/board.html" in pages
    with templates_read(app) as read:
        warm_up(app)
    assert sorted(read) == sorted(pages)  # each read and compiled once
    with templates_read(app) as read:
        app.jinja_env.get_template("office/board.html")
    assert read == []  # a page after the warm-up compiles nothing


def test_gunicorn_warms_the_loaded_app_before_its_first_request(app: Flask) -> None:
    with templates_read(app) as read:
        gunicorn_config.post_worker_init(SimpleNamespace(wsgi=app))
    assert "office/board.html" in read
    gunicorn_config.post_worker_init(SimpleNamespace(wsgi=object()))  # not a Flask app: left


def test_warm_up_parses_todays_stored_board_index_so_the_first_board_does_not(
        app: Flask, database: Database, settings: Settings, clock: FixedClock,
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    carer = make_care_worker(session)
    make_planned_visit(session, make_adult(session), [carer], start=clock.now())
    session.commit()
    assert run_board_index(database, settings, clock, EscalationAlertSource(settings))
    board_index.forget_stored()  # a new worker's process: nothing parsed yet
    parsed: list[date] = []
    real = board_index.decode

    def decode(day: date, *rest: Any) -> board_index.DayIndex:
        parsed.append(day)
        return real(day, *rest)
    monkeypatch.setattr(board_index, "decode", decode)
    warm_up(app)
    today = clock.now().astimezone(settings.tz).date()
    assert parsed == [today]
    with database.unit_of_work() as reading:
        index = board_index.stored_index(reading, today, clock.now())
    assert index is not None and len(index.entries) == 1
    assert parsed == [today]  # the request's read found it parsed
