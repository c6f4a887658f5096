"""API tokens: the CLI and the dashboard create and revoke them through one service (tokens.py),
so the token, the refusal and the audit entry are the same whichever door was used."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import select

from ivr_gateway.api.models import ApiToken
from ivr_gateway.cli import main
from ivr_gateway.db import Database
from ivr_gateway.hashing import hash_api_token
from ivr_gateway.models import AuditEntry
from tests.office import conftest as office_fixtures
from tests.office.conftest import Office

# The dashboard's fixtures: an administrator logged in at /office/.
office = office_fixtures.office
administrator = office_fixtures.administrator
as_administrator = office_fixtures.as_administrator


def _cli(database: Database, *args: str) -> Result:
    return CliRunner().invoke(main, ["api-token", *args], env={"DATABASE_URL": database.url})


def _audit(database: Database) -> list[dict[str, Any]]:
    with database.unit_of_work() as session:
        return [{"actor": a.actor, "action": a.action, "entity": a.entity,
                 "entity_ref": a.entity_ref, "detail": a.detail}
                for a in session.scalars(select(AuditEntry).where(
                    AuditEntry.entity == "api_token").order_by(AuditEntry.id))]


def _tokens(database: Database) -> dict[str, ApiToken]:
    with database.unit_of_work() as session:
        return {t.name: t for t in session.scalars(select(ApiToken))}


def _works(app: Flask, secret: str) -> bool:
    response = app.test_client().get("/api/v1/lockouts",
                                     headers={"Authorization": f"Bearer {secret}"})
    return response.status_code == 200


def test_cli_and_dashboard_create_and_revoke_tokens_with_the_same_audit_entries(
        database: Database, app: Flask, as_administrator: Office) -> None:
    created = _cli(database, "create", "from-cli")
    assert created.exit_code == 0, created.output
    cli_secret = created.stdout.strip().splitlines()[-1]
    page = as_administrator.post("/office/api-tokens", {"name": "from-office"})
    office_secret = page.get_data(as_text=True).split('<code id="new-token">')[1].split(
        "</code>")[0]

    tokens = _tokens(database)
    assert tokens["from-cli"].token_hash == hash_api_token(cli_secret)
    assert tokens["from-office"].token_hash == hash_api_token(office_secret)
    assert _works(app, cli_secret) and _works(app, office_secret)

    assert _cli(database, "revoke", "from-office").exit_code == 0
    as_administrator.post(f"/office/api-tokens/{tokens['from-cli'].id}/revoke")
    assert not _works(app, cli_secret) and not _works(app, office_secret)

    audit = _audit(database)
    assert [(a["action"], a["entity_ref"]) for a in audit] == [
        ("create", "from-cli"), ("create", "from-office"),
        ("revoke", "from-office"), ("revoke", "from-cli")]
    # One shape whichever door: only the actor (the door and who) differs.
    assert {(a["entity"], str(a["detail"])) for a in audit} == {("api_token", "{}")}
    cli_actors = {a["actor"] for a in audit[0::2]}
    office_actors = {a["actor"] for a in audit[1::2]}
    assert office_actors == {"office:ada"}
    assert all(actor.startswith("cli") for actor in cli_actors)


def test_a_taken_name_is_refused_in_the_same_words_at_both_doors(
        database: Database, as_administrator: Office) -> None:
    assert _cli(database, "create", "rostering").exit_code == 0
    refused = _cli(database, "create", "rostering")
    assert refused.exit_code == 1
    page = as_administrator.post("/office/api-tokens", {"name": "rostering"},
                                 follow_redirects=True).get_data(as_text=True)
    words = "A token called &#39;rostering&#39; already exists; choose another name."
    assert words in page
    assert words.replace("&#39;", "'") in refused.stderr
    assert len(_tokens(database)) == 1 and len(_audit(database)) == 1


def test_revoking_twice_changes_and_audits_nothing_more(
        database: Database, as_administrator: Office) -> None:
    _cli(database, "create", "rostering")
    token = _tokens(database)["rostering"]
    as_administrator.post(f"/office/api-tokens/{token.id}/revoke")
    revoked_at = _tokens(database)["rostering"].revoked_at
    assert revoked_at is not None
    again = _cli(database, "revoke", "rostering")
    assert again.exit_code == 0 and "already revoked" in again.stdout
    page = as_administrator.post(f"/office/api-tokens/{token.id}/revoke",
                                 follow_redirects=True).get_data(as_text=True)
    assert "was already revoked" in page
    assert [a["action"] for a in _audit(database)] == ["create", "revoke"]
    assert _tokens(database)["rostering"].revoked_at == revoked_at
