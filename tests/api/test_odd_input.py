"""Odd input to /api/v1 gets a clear JSON 4xx, never a 500 (PostgreSQL especially)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from ivr_gateway.api.models import ApiToken
from tests.api.conftest import TOKEN, adult_body

AUTH = {"Authorization": f"Bearer {TOKEN}"}
TOO_BIG = "99999999999999999999"


def _error(response: object) -> str:
    body = response.get_json()  # type: ignore[attr-defined]
    assert response.mimetype == "application/json"  # type: ignore[attr-defined]
    return str(body["error"]["code"])


@pytest.mark.parametrize("path", [f"/api/v1/alerts/{TOO_BIG}", "/api/v1/alerts/2147483648"])
def test_an_id_beyond_the_integer_range_is_not_found(client: FlaskClient,
                                                     api_token: ApiToken, path: str) -> None:
    response = client.get(path, headers=AUTH)
    assert response.status_code == 404 and _error(response) == "not_found"
    posted = client.post(path + "/acknowledge", json={}, headers=AUTH)
    assert posted.status_code == 404


def test_a_nul_in_a_json_string_is_refused(client: FlaskClient, api_token: ApiToken) -> None:
    response = client.put("/api/v1/adults/A1", json=adult_body(given_name="Jo\x00an"),
                          headers=AUTH)
    assert response.status_code == 400 and _error(response) == "nul_character"


def test_a_nul_in_a_ref_in_the_path_is_refused(client: FlaskClient, api_token: ApiToken) -> None:
    assert client.get("/api/v1/adults/A%001", headers=AUTH).status_code == 400


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-02", "0001-01-01"])
def test_a_day_outside_the_calendar_we_serve_is_a_422(client: FlaskClient,
                                                      api_token: ApiToken, day: str) -> None:
    response = client.get(f"/api/v1/visits?date={day}", headers=AUTH)
    assert response.status_code == 422
    assert "2000-01-01" in response.get_data(as_text=True)


def test_json_nested_100000_deep_is_a_400(client: FlaskClient, api_token: ApiToken) -> None:
    body = "[" * 100_000 + "]" * 100_000
    response = client.put("/api/v1/adults/A1", data=body, headers={
        **AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400 and _error(response) == "too_deeply_nested"


def test_a_body_over_the_limit_is_a_json_413(client: FlaskClient, api_token: ApiToken) -> None:
    body = '{"given_name": "' + "x" * (17 * 1024 * 1024) + '"}'
    response = client.put("/api/v1/adults/A1", data=body, headers={
        **AUTH, "Content-Type": "application/json"})
    assert response.status_code == 413 and _error(response) == "body_too_large"
