"""Bearer-token authentication of /api/v1."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from ivr_gateway.api.models import ApiToken
from ivr_gateway.db import Database
from ivr_gateway.models import Adult
from tests.api.conftest import TOKEN, Api, adult_body, count


def test_request_without_a_token_is_401_with_the_error_shape(api: Api,
                                                             database: Database) -> None:
    response = api.put("/adults/A1", adult_body(), token=None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    error = response.get_json()["error"]
    assert error["code"] == "unauthorized"
    assert "Authorization: Bearer" in error["message"]
    assert count(database, Adult) == 0


def test_wrong_token_and_wrong_scheme_are_401(api: Api) -> None:
    assert api.get("/lockouts", token="ivr_wrong").get_json()["error"]["code"] == "invalid_token"
    basic = api.get("/lockouts", token=None, headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401


def test_revoked_token_is_401(api: Api, database: Database) -> None:
    with database.unit_of_work() as session:
        session.scalars(select(ApiToken)).one().revoked_at = datetime(2026, 1, 2, tzinfo=UTC)
    response = api.get("/lockouts")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_revoked"


def test_token_use_is_recorded(api: Api, database: Database) -> None:
    assert api.get("/lockouts").status_code == 200
    with database.unit_of_work() as session:
        assert session.scalars(select(ApiToken.last_used_at)).one() == datetime(
            2026, 1, 13, 9, 0, tzinfo=UTC)


def test_openapi_document_needs_no_token(api: Api) -> None:
    response = api.get("/openapi.json", token=None)
    assert response.status_code == 200
    assert response.get_json()["openapi"] == "3.1.0"
