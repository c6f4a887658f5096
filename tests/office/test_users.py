"""The Office users page: administrators add users, change roles, deactivate, reset passwords."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from ivr_gateway.db import Database
from ivr_gateway.models import AuditEntry
from ivr_gateway.office.auth import verify_password
from ivr_gateway.office.models import OfficeRole, OfficeUser
from tests.conftest import DEFAULT_NOW
from tests.office.conftest import PASSWORD, Office, lock_by_guessing
from tests.office.conftest import office_user_audit as _audit
from tests.office.conftest import stored_office_user as _user

NEW_PASSWORD = "a fresh temporary phrase"


def _logged_in(app: Flask, username: str, password: str = PASSWORD) -> Office:
    other = Office(app.test_client())
    assert other.login(username, password).status_code == 302
    return other


def test_the_page_lists_users_with_role_and_last_login(as_administrator: Office,
                                                       coordinator: OfficeUser) -> None:
    page = as_administrator.get("/office/users")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Cora" in body and "cora" in body and "coordinator" in body
    assert "never" in body  # cora has not logged in
    assert "13 Jan 2026 09:00" in body  # ada's login just now, in London time (GMT in January)


def test_only_administrators_see_the_link(as_administrator: Office, app: Flask,
                                          manager: OfficeUser) -> None:
    assert 'href="/office/users"' in as_administrator.get("/office/").get_data(as_text=True)
    assert 'href="/office/users"' not in _logged_in(app, "max").get("/office/").get_data(
        as_text=True)


@pytest.mark.parametrize("who", ["as_coordinator", "as_manager"])
def test_coordinators_and_managers_are_refused(who: str, request: pytest.FixtureRequest,
                                               administrator: OfficeUser,
                                               database: Database) -> None:
    office: Office = request.getfixturevalue(who)
    assert office.get("/office/users").status_code == 403
    assert office.get("/office/users/ada").status_code == 403
    assert office.post("/office/users", {"username": "sneaky", "role": "administrator",
                                         "password": NEW_PASSWORD}).status_code == 403
    assert office.post("/office/users/ada/deactivate").status_code == 403
    assert office.post("/office/users/ada/role", {"role": "coordinator"}).status_code == 403
    assert office.post("/office/users/ada/password", {
        "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}).status_code == 403
    ada = _user(database, "ada")
    assert (ada.active, ada.role) == (True, OfficeRole.ADMINISTRATOR)
    assert verify_password(ada.password_hash, PASSWORD)
    with database.unit_of_work() as session:
        assert session.scalar(select(OfficeUser).where(OfficeUser.username == "sneaky")) is None


def test_an_administrator_adds_a_user_who_can_log_in(as_administrator: Office, app: Flask,
                                                     database: Database) -> None:
    response = as_administrator.post("/office/users", {
        "username": "Jo", "display_name": "Jo Bloggs", "role": "manager",
        "password": NEW_PASSWORD}, follow_redirects=True)
    assert "Office user jo added" in response.get_data(as_text=True)
    jo = _user(database, "jo")
    assert (jo.display_name, jo.role, jo.active) == ("Jo Bloggs", OfficeRole.MANAGER, True)
    assert _audit(database, "jo") == [("create", "office:ada", {"role": "manager"})]
    jo_office = _logged_in(app, "jo", NEW_PASSWORD)
    assert jo_office.get("/office/rota").headers["Location"] == "/office/password"
    jo_office.post("/office/password", {"current_password": NEW_PASSWORD,
                                        "password": "a phrase all my own",
                                        "password_again": "a phrase all my own"})
    assert jo_office.get("/office/rota").status_code == 200


@pytest.mark.parametrize("password, problem", [
    ("short", "at least 12 characters"),
    ("jo is my name ok", "must not contain the username"),
])
def test_a_weak_temporary_password_is_refused_with_the_cli_rules(
        as_administrator: Office, database: Database, password: str, problem: str) -> None:
    response = as_administrator.post("/office/users", {
        "username": "jo", "role": "coordinator", "password": password}, follow_redirects=True)
    assert problem in response.get_data(as_text=True)
    with database.unit_of_work() as session:
        assert session.scalar(select(OfficeUser).where(OfficeUser.username == "jo")) is None
    assert _audit(database, "jo") == []


def test_a_forged_csrf_token_changes_nothing(as_administrator: Office, coordinator: OfficeUser,
                                             database: Database) -> None:
    forged = "forged-" + as_administrator.token()
    for path, data in [("/office/users", {"username": "jo", "role": "administrator",
                                          "password": NEW_PASSWORD}),
                       ("/office/users/cora/role", {"role": "administrator"}),
                       ("/office/users/cora/deactivate", {}),
                       ("/office/users/cora/password", {"password": NEW_PASSWORD,
                                                        "password_again": NEW_PASSWORD})]:
        response = as_administrator.client.post(path, data={**data, "csrf_token": forged})
        assert response.status_code == 400
    cora = _user(database, "cora")
    assert (cora.role, cora.active) == (OfficeRole.COORDINATOR, True)
    assert verify_password(cora.password_hash, PASSWORD)
    with database.unit_of_work() as session:
        assert session.scalars(select(AuditEntry)).all() == []


def test_promoting_a_user_is_audited_and_keeps_their_session(
        as_administrator: Office, app: Flask, coordinator: OfficeUser,
        database: Database) -> None:
    cora = _logged_in(app, "cora")
    response = as_administrator.post("/office/users/cora/role", {"role": "manager"},
                                     follow_redirects=True)
    assert "Role changed." in response.get_data(as_text=True)
    assert _user(database, "cora").role is OfficeRole.MANAGER
    assert _audit(database, "cora") == [("change_role", "office:ada",
                                         {"role": ["coordinator", "manager"]})]
    assert cora.get("/office/rota").status_code == 200


def test_demoting_a_user_ends_their_sessions(as_administrator: Office, app: Flask,
                                             manager: OfficeUser, database: Database) -> None:
    max_ = _logged_in(app, "max")
    as_administrator.post("/office/users/max/role", {"role": "coordinator"})
    assert _user(database, "max").role is OfficeRole.COORDINATOR
    assert _audit(database, "max") == [("change_role", "office:ada",
                                        {"role": ["manager", "coordinator"]})]
    assert max_.get("/office/").headers["Location"].startswith("/office/login")


def test_a_deactivated_users_session_stops_working_and_they_cannot_log_in(
        as_administrator: Office, app: Flask, coordinator: OfficeUser,
        database: Database) -> None:
    cora = _logged_in(app, "cora")
    assert cora.get("/office/").status_code == 200
    response = as_administrator.post("/office/users/cora/deactivate", follow_redirects=True)
    assert "they are logged out" in response.get_data(as_text=True)
    assert _user(database, "cora").active is False
    assert cora.get("/office/").headers["Location"].startswith("/office/login")
    assert Office(app.test_client()).login("cora").status_code == 401
    assert [a[:2] for a in _audit(database, "cora")] == [("deactivate", "office:ada")]


def test_a_reactivated_user_logs_in_again(as_administrator: Office, app: Flask,
                                          coordinator: OfficeUser, database: Database) -> None:
    as_administrator.post("/office/users/cora/deactivate")
    response = as_administrator.post("/office/users/cora/reactivate", follow_redirects=True)
    assert "Reactivated" in response.get_data(as_text=True)
    assert _user(database, "cora").active is True
    assert Office(app.test_client()).login("cora").status_code == 302
    assert [a[0] for a in _audit(database, "cora")] == ["deactivate", "reactivate"]


def test_a_password_reset_replaces_the_password_and_ends_sessions(
        as_administrator: Office, app: Flask, coordinator: OfficeUser,
        database: Database) -> None:
    cora = _logged_in(app, "cora")
    as_administrator.post("/office/users/cora/password",
                          {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert cora.get("/office/").headers["Location"].startswith("/office/login")
    assert Office(app.test_client()).login("cora").status_code == 401
    assert Office(app.test_client()).login("cora", NEW_PASSWORD).status_code == 302
    audit = _audit(database, "cora")
    assert audit == [("reset_password", "office:ada", {"temporary": True})]
    assert NEW_PASSWORD not in repr(audit)


def test_a_password_reset_must_be_typed_twice_and_meet_the_rules(
        as_administrator: Office, coordinator: OfficeUser, database: Database) -> None:
    differs = as_administrator.post("/office/users/cora/password", {
        "password": NEW_PASSWORD, "password_again": NEW_PASSWORD + "x"}, follow_redirects=True)
    assert "The two passwords differ" in differs.get_data(as_text=True)
    weak = as_administrator.post("/office/users/cora/password", {
        "password": "short", "password_again": "short"}, follow_redirects=True)
    assert "at least 12 characters" in weak.get_data(as_text=True)
    assert verify_password(_user(database, "cora").password_hash, PASSWORD)
    assert _audit(database, "cora") == []


def test_a_locked_user_is_unlocked_from_the_page(as_administrator: Office, app: Flask,
                                                 coordinator: OfficeUser,
                                                 database: Database) -> None:
    lock_by_guessing(app, "cora")
    assert "Locked until" in as_administrator.get("/office/users/cora").get_data(as_text=True)
    as_administrator.post("/office/users/cora/unlock")
    assert Office(app.test_client()).login("cora").status_code == 302
    assert [a[0] for a in _audit(database, "cora")] == ["lock", "unlock"]


def test_an_administrator_cannot_demote_or_deactivate_themselves(
        as_administrator: Office, app: Flask, database: Database) -> None:
    with database.unit_of_work() as session:
        session.add(OfficeUser(username="bob", display_name="Bob", password_hash="x",
                               role=OfficeRole.ADMINISTRATOR, active=True, failed_logins=0,
                               session_epoch=0, created_at=DEFAULT_NOW, updated_at=DEFAULT_NOW))
    assert "This is you" in as_administrator.get("/office/users/ada").get_data(as_text=True)
    demote = as_administrator.post("/office/users/ada/role", {"role": "manager"},
                                   follow_redirects=True)
    assert "You cannot demote yourself" in demote.get_data(as_text=True)
    deactivate = as_administrator.post("/office/users/ada/deactivate", follow_redirects=True)
    assert "You cannot deactivate yourself" in deactivate.get_data(as_text=True)
    ada = _user(database, "ada")
    assert (ada.role, ada.active) == (OfficeRole.ADMINISTRATOR, True)
    assert _audit(database, "ada") == []
    assert as_administrator.get("/office/users").status_code == 200  # still logged in


def test_the_last_active_administrator_cannot_be_removed(
        as_administrator: Office, app: Flask, database: Database) -> None:
    """Another administrator who is deactivated does not count: ada is the last active one."""
    from ivr_gateway.office import accounts

    with database.unit_of_work() as session:
        session.add(OfficeUser(username="bob", display_name="Bob", password_hash="x",
                               role=OfficeRole.ADMINISTRATOR, active=False, failed_logins=0,
                               session_epoch=0, created_at=DEFAULT_NOW, updated_at=DEFAULT_NOW))
    assert "only active administrator" in as_administrator.get("/office/users/ada").get_data(
        as_text=True)
    for change in (
            lambda s: accounts.deactivate_office_user(s, "ada", now=DEFAULT_NOW, actor="cli:x"),
            lambda s: accounts.change_office_user_role(s, "ada", OfficeRole.MANAGER,
                                                       now=DEFAULT_NOW, actor="cli:x")):
        with pytest.raises(ValueError, match="ada is the last active administrator"), \
                database.unit_of_work() as session:
            change(session)
    ada = _user(database, "ada")
    assert (ada.role, ada.active) == (OfficeRole.ADMINISTRATOR, True)


def test_one_of_two_administrators_may_demote_the_other_but_not_then_be_removed(
        as_administrator: Office, app: Flask, database: Database) -> None:
    from ivr_gateway.office import accounts

    with database.unit_of_work() as session:
        session.add(OfficeUser(username="bob", display_name="Bob", password_hash="x",
                               role=OfficeRole.ADMINISTRATOR, active=True, failed_logins=0,
                               session_epoch=0, created_at=DEFAULT_NOW, updated_at=DEFAULT_NOW))
    as_administrator.post("/office/users/bob/role", {"role": "manager"})
    assert _user(database, "bob").role is OfficeRole.MANAGER
    with pytest.raises(ValueError, match="last active administrator"), \
            database.unit_of_work() as session:
        accounts.deactivate_office_user(session, "ada", now=DEFAULT_NOW, actor="cli:x",
                                        acting_username="bob")


def test_the_cli_uses_the_same_rules_and_audit(database: Database, office: Office,
                                                administrator: OfficeUser,
                                                coordinator: OfficeUser) -> None:
    from click.testing import CliRunner

    from ivr_gateway.cli import main

    env = {"DATABASE_URL": database.url}

    def run(*args: str, input: str | None = None) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["user", *args], input=input, env=env)
        return result.exit_code, result.output

    assert run("role", "cora", "manager") == (0, "cora is now a manager.\n")
    code, output = run("role", "ada", "manager")
    assert code != 0 and "ada is the last active administrator" in output
    assert run("deactivate", "cora")[0] == 0
    assert office.login("cora").status_code == 401
    assert run("reactivate", "cora")[0] == 0
    code, output = run("reset-password", "cora", "--password-stdin", input="short\n")
    assert code != 0 and "at least 12 characters" in output
    assert run("reset-password", "cora", "--password-stdin", input=NEW_PASSWORD + "\n")[0] == 0
    assert office.login("cora", NEW_PASSWORD).status_code == 302
    assert [a[0] for a in _audit(database, "cora")] == [
        "change_role", "deactivate", "reactivate", "reset_password"]
    assert all(a[1].startswith("cli") for a in _audit(database, "cora"))


def test_creating_and_unlocking_audit_the_same_way_from_the_page_and_the_cli(
        database: Database, app: Flask, as_administrator: Office,
        coordinator: OfficeUser) -> None:
    from click.testing import CliRunner

    from ivr_gateway.cli import main

    def cli(*args: str, input: str | None = None) -> int:
        return CliRunner().invoke(main, ["user", *args], input=input,
                                  env={"DATABASE_URL": database.url}).exit_code

    assert cli("create", "Dee", "--role", "manager", "--password-stdin",
               input=NEW_PASSWORD + "\n") == 0
    as_administrator.post("/office/users", {"username": "Eve", "password": NEW_PASSWORD,
                                            "role": "manager"})
    [(cli_action, cli_actor, cli_detail)] = _audit(database, "dee")
    [(page_action, page_actor, page_detail)] = _audit(database, "eve")
    assert (cli_action, cli_detail) == (page_action, page_detail) == (
        "create", {"role": "manager"})
    assert cli_actor.startswith("cli") and page_actor == "office:ada"

    def lock_cora() -> None:
        lock_by_guessing(app, "cora")

    lock_cora()
    assert cli("unlock", " Cora ") == 0  # the service finds the user as the login does
    lock_cora()
    as_administrator.post("/office/users/Cora/unlock")
    audit = _audit(database, "cora")
    assert [a[0] for a in audit] == ["lock", "unlock", "lock", "unlock"]
    assert audit[1][2] == audit[3][2] == {}
    assert audit[1][1].startswith("cli") and audit[3][1] == "office:ada"
    assert Office(app.test_client()).login("cora").status_code == 302
