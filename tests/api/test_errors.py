"""Every answer under /api/v1 is JSON, errors in the one shape: never Flask's HTML pages."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr_gateway.db import Database
from ivr_gateway.models import Adult
from ivr_gateway.rota import service
from tests.api.conftest import TOKEN, Api, adult_body, count

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _error(response: object, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response.mimetype == "application/json"  # type: ignore[attr-defined]
    body = response.get_json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


def test_an_unknown_path_under_the_api_is_a_json_404(api: Api, client: FlaskClient) -> None:
    response = client.get("/api/v1/no-such-thing", headers=AUTH)
    error = _error(response, 404, "not_found")
    assert "openapi.json" in error["message"]


def test_a_method_a_path_does_not_take_is_a_json_405_with_allow(api: Api,
                                                                 client: FlaskClient) -> None:
    response = client.delete("/api/v1/adults/A1", headers=AUTH)
    _error(response, 405, "method_not_allowed")
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert {"GET", "PUT"} <= allowed and "DELETE" not in allowed


def test_a_body_too_large_is_a_json_413_and_stores_nothing(app: Flask, api: Api,
                                                          client: FlaskClient,
                                                          database: Database) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1024
    body = adult_body(address="x" * 2000)
    response = client.put("/api/v1/adults/A1", json=body, headers=AUTH)
    _error(response, 413, "body_too_large")
    assert count(database, Adult) == 0


def test_a_bug_is_a_json_500_not_an_html_page(api: Api, client: FlaskClient,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug in the service")
    monkeypatch.setattr(service, "get_adult", broken)
    response = client.get("/api/v1/adults/A1", headers=AUTH)
    error = _error(response, 500, "internal_error")
    assert "bug" not in error["message"]  # the traceback is logged, not shown


def test_paths_outside_the_api_keep_their_own_answers(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert "openapi" not in response.get_json()["error"]["message"]
