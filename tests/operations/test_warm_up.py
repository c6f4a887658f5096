"""A worker's warm-up: every template compiled and a connection opened before its first request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

from flask import Flask

from ivr_gateway import gunicorn_config
from ivr_gateway.warm_up import warm_up


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
