"""Wall-screen display links: an administrator makes one, the screen shows today's board
read-only with no login, a logout does not blank it, and revoking it ends it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.cli import main
from ivr_gateway.clock import FixedClock
from ivr_gateway.db import Database
from ivr_gateway.models import AuditEntry
from ivr_gateway.office.display import hash_display_token
from ivr_gateway.office.models import DisplayLink, OfficeUser
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.office.conftest import Office

NINE_AM = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)


def _today(session: Session, clock: FixedClock) -> None:
    """Joan's visit at 09:00 (late by 09:40) and Edith's at 13:00."""
    clock.set(NINE_AM + timedelta(minutes=40))
    joan = make_adult(session, ref="A1", landlines=("+441134960001",))
    edith = make_adult(session, ref="A2", given_name="Edith", family_name="Clarke",
                       landlines=("+441134960003",))
    amy = make_care_worker(session, ref="C1", staff_number="1234", pin="5678")
    make_planned_visit(session, joan, [amy], start=NINE_AM, ref="JOAN-AM")
    make_planned_visit(session, edith, [amy], start=NINE_AM + timedelta(hours=4), ref="EDITH")
    session.commit()


def _create(office: Office, name: str = "Office wall") -> str:
    """Create a display link on the dashboard; its path, as shown once."""
    page = office.post("/office/display-links", data={"name": name}).get_data(as_text=True)
    match = re.search(r'id="new-display-link">http://localhost(/office/display/[^<]+)<', page)
    assert match, page
    return match.group(1)


def _audit(database: Database) -> list[tuple[str, str, str]]:
    with database.unit_of_work() as db:
        return [(a.action, a.actor, a.entity_ref) for a in db.scalars(
            select(AuditEntry).where(AuditEntry.entity == "display_link").order_by(AuditEntry.id))]


def test_an_administrator_creates_a_link_shown_once_and_stored_only_as_a_hash(
        as_administrator: Office, database: Database) -> None:
    path = _create(as_administrator)
    token = path.rsplit("/", 1)[1]
    assert token.startswith("wall_") and len(token) > 40
    with database.unit_of_work() as db:
        link = db.scalars(select(DisplayLink)).one()
        assert (link.name, link.created_by, link.revoked_at) == ("Office wall", "office:ada", None)
        assert link.token_hash == hash_display_token(token) != token
    listing = as_administrator.get("/office/display-links").get_data(as_text=True)
    assert "Office wall" in listing and token not in listing  # never shown again
    assert _audit(database) == [("create", "office:ada", "Office wall")]


def test_a_second_link_with_the_same_name_is_refused_with_the_reason(
        as_administrator: Office) -> None:
    _create(as_administrator)
    page = as_administrator.post("/office/display-links", data={"name": "Office wall"})
    assert "already exists; choose another name" in page.get_data(as_text=True)


def test_only_administrators_manage_display_links(as_manager: Office) -> None:
    assert as_manager.get("/office/display-links").status_code == 403
    assert as_manager.post("/office/display-links", data={"name": "x"}).status_code == 403


def test_the_display_shows_todays_board_read_only_without_a_login(
        app: Flask, as_administrator: Office, session: Session, clock: FixedClock) -> None:
    _today(session, clock)
    path = _create(as_administrator)
    wall = app.test_client()  # the screen: nobody logged in
    response = wall.get(path)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.findall(r'data-ref="([^"]+)"', page) == ["JOAN-AM", "EDITH"]
    assert '<span class="status status-late">Late</span>' in page
    assert "Joan Smith" in page and "Edith Clarke" in page
    # Read-only: no form, no button, no way into a visit or the rest of the dashboard.
    assert "<form" not in page and "<button" not in page
    assert "/office/visits/" not in page and "acknowledged by me" not in page
    assert 'href="/office/' not in page.replace('href="/office/static/', "")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    # It refreshes itself: the live rows, then 304 while nothing changed.
    assert f'data-refresh-url="{path}/live"' in page
    live = wall.get(f"{path}/live")
    assert live.status_code == 200 and 'data-ref="JOAN-AM"' in live.get_data(as_text=True)
    assert "<form" not in live.get_data(as_text=True)
    assert wall.get(f"{path}/live", headers={"If-None-Match": live.headers["ETag"]}
                    ).status_code == 304


def test_the_display_accepts_no_writes(app: Flask, as_administrator: Office) -> None:
    path = _create(as_administrator)
    wall = app.test_client()
    for method in (wall.post, wall.put, wall.delete):
        assert method(path).status_code in (400, 405)
        assert method(f"{path}/live").status_code in (400, 405)


def test_a_logout_of_any_user_does_not_blank_the_display(
        app: Flask, as_administrator: Office, session: Session, clock: FixedClock,
        database: Database) -> None:
    _today(session, clock)
    path = _create(as_administrator)
    assert as_administrator.post("/office/logout").status_code == 302
    with database.unit_of_work() as db:  # every session of hers ended
        assert db.scalars(select(OfficeUser)).one().session_epoch == 1
    for client in (as_administrator.client, app.test_client()):
        assert client.get(path).status_code == 200
        live = client.get(f"{path}/live")
        assert live.status_code == 200 and 'data-ref="JOAN-AM"' in live.get_data(as_text=True)


def test_revoking_asks_first_then_ends_the_display_at_its_next_refresh(
        app: Flask, as_administrator: Office, database: Database) -> None:
    path = _create(as_administrator)
    wall = app.test_client()
    assert wall.get(f"{path}/live").status_code == 200
    with database.unit_of_work() as db:
        link_id = db.scalars(select(DisplayLink.id)).one()
    confirm = as_administrator.get(f"/office/display-links/{link_id}/revoke")
    assert "Revoke the display link Office wall?" in confirm.get_data(as_text=True)
    assert _audit(database) == [("create", "office:ada", "Office wall")]  # asking changes nothing

    as_administrator.post(f"/office/display-links/{link_id}/revoke")

    live = wall.get(f"{path}/live")
    assert live.status_code == 410 and live.headers["X-Office-Display"] == "revoked"
    assert "revoked by an administrator" in live.get_data(as_text=True)
    page = wall.get(path)
    assert page.status_code == 410
    assert "revoked by an administrator" in page.get_data(as_text=True)
    assert "data-ref=" not in page.get_data(as_text=True)
    assert _audit(database)[-1] == ("revoke", "office:ada", "Office wall")
    again = as_administrator.post(f"/office/display-links/{link_id}/revoke", follow_redirects=True)
    assert "already revoked" in again.get_data(as_text=True)


def test_a_wrong_token_is_not_found(app: Flask, as_administrator: Office) -> None:
    path = _create(as_administrator)
    wall = app.test_client()
    wrong = path[:-4] + ("AAAA" if not path.endswith("AAAA") else "BBBB")
    for bad in (wrong, "/office/display/wall_", "/office/display/not-a-token",
                "/office/display/" + "wall_" + "x" * 200):
        assert wall.get(bad).status_code == 404
        assert wall.get(f"{bad}/live").status_code == 404


def test_the_cli_creates_and_revokes_a_display_link(app: Flask, database: Database) -> None:
    runner = CliRunner(env={"DATABASE_URL": database.url})
    made = runner.invoke(main, ["display-link", "create", "Reception"])
    assert made.exit_code == 0, made.output
    path = re.search(r"(/office/display/wall_\S+)", made.output)
    assert path
    assert app.test_client().get(path.group(1)).status_code == 200
    gone = runner.invoke(main, ["display-link", "revoke", "Reception"])
    assert gone.exit_code == 0, gone.output
    assert app.test_client().get(path.group(1)).status_code == 410
    unknown = runner.invoke(main, ["display-link", "revoke", "Reception"])
    assert unknown.exit_code != 0 and "already revoked" in unknown.output
    assert [action for action, _, _ in _audit(database)] == ["create", "revoke"]


def test_after_midnight_the_display_shows_the_new_day(
        app: Flask, as_administrator: Office, session: Session, clock: FixedClock) -> None:
    _today(session, clock)
    path = _create(as_administrator)
    wall = app.test_client()
    assert "Visits on Tuesday 13 January 2026" in wall.get(f"{path}/live").get_data(as_text=True)
    clock.set(datetime(2026, 1, 14, 0, 1, tzinfo=UTC))
    live = wall.get(f"{path}/live").get_data(as_text=True)
    assert "Visits on Wednesday 14 January 2026" in live
    assert "data-ref=" not in live
