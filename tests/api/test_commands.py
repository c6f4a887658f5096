"""`ivr-gateway api-token create / list / revoke`."""

from __future__ import annotations

from click.testing import CliRunner, Result
from sqlalchemy import select

from ivr_gateway.api.models import ApiToken
from ivr_gateway.app import create_app
from ivr_gateway.cli import main
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.hashing import hash_api_token


def _run(database: Database, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": database.url})


def test_created_token_is_printed_once_stored_hashed_and_works(database: Database) -> None:
    result = _run(database, "api-token", "create", "rostering")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("ivr_")
    with database.unit_of_work() as session:
        stored = session.scalars(select(ApiToken)).one()
        assert stored.token_hash == hash_api_token(token)
        assert token not in (stored.token_hash, stored.name)
    client = create_app(settings=Settings(database_url=database.url), database=database
                        ).test_client()
    assert client.get("/api/v1/lockouts",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 200
    listed = _run(database, "api-token", "list")
    assert "rostering" in listed.stdout
    assert token not in listed.stdout


def test_duplicate_token_name_is_refused(database: Database) -> None:
    _run(database, "api-token", "create", "rostering")
    result = _run(database, "api-token", "create", "rostering")
    assert result.exit_code == 1
    assert "already exists" in result.stderr
    with database.unit_of_work() as session:
        assert len(session.scalars(select(ApiToken)).all()) == 1


def test_revoked_token_is_refused_by_the_api(database: Database) -> None:
    token = _run(database, "api-token", "create", "rostering").stdout.strip().splitlines()[-1]
    result = _run(database, "api-token", "revoke", "rostering")
    assert result.exit_code == 0
    assert "revoked" in result.stdout
    client = create_app(settings=Settings(database_url=database.url), database=database
                        ).test_client()
    response = client.get("/api/v1/lockouts", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_revoked"
    assert _run(database, "api-token", "revoke", "nobody").exit_code == 1
