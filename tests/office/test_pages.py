"""The board, people pages, KPIs, the user commands and the demo login."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.cli import main
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.demo import load_demo_rota
from ivr_gateway.models import AuditEntry, CareWorker
from ivr_gateway.office.models import OfficeRole, OfficeUser
from ivr_gateway.visits.models import ReasonCode
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import play
from tests.office.conftest import Office, lock_by_guessing
from tests.twilio_client import TwilioClient

LANDLINE = "+441134960001"
NINE_AM = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
HEADER = ("visit_ref,adult_ref,adult_given_name,adult_family_name,adult_landlines,adult_rag,"
          "date,start,end,care_worker_refs,care_worker_staff_numbers,care_worker_given_names,"
          "care_worker_family_names")


def _day(session: Session) -> None:
    """Four visits at Joan's and Edith's: on time, late, missed, not yet due."""
    joan = make_adult(session, ref="A1", landlines=(LANDLINE,))
    edith = make_adult(session, ref="A2", given_name="Edith", family_name="Clarke",
                       landlines=("+441134960003",))
    amy = make_care_worker(session, ref="C1", staff_number="1234", pin="5678")
    ben = make_care_worker(session, ref="C2", staff_number="2345", pin="6190",
                           given_name="Ben", family_name="Taylor")
    make_planned_visit(session, joan, [amy], start=NINE_AM, ref="ONTIME")
    make_planned_visit(session, edith, [ben], start=NINE_AM, ref="LATE")
    make_planned_visit(session, edith, [ben], start=NINE_AM - timedelta(hours=3), ref="MISSED")
    make_planned_visit(session, joan, [amy], start=NINE_AM + timedelta(hours=4), ref="LATER")
    session.commit()


def _refs(page: str) -> list[str]:
    return [part.split('"')[0] for part in page.split('data-ref="')[1:]]


def test_board_shows_status_in_words_and_colour_in_planned_order(
        as_coordinator: Office, twilio: TwilioClient, session: Session,
        clock: FixedClock) -> None:
    _day(session)
    clock.set(NINE_AM + timedelta(minutes=5))
    play(twilio, LANDLINE, "1234", "5678")
    clock.set(NINE_AM + timedelta(minutes=40))
    page = as_coordinator.get("/office/").get_data(as_text=True)
    assert _refs(page) == ["MISSED", "LATE", "ONTIME", "LATER"]  # by time, then reference
    assert '<tr class="row-late" data-ref="LATE" ' in page
    assert '<span class="status status-late">Late</span>' in page
    assert '<span class="status status-missed">Missed</span>' in page
    assert '<span class="status status-progress">In progress</span>' in page
    assert '<span class="status status-due">Due</span>' in page
    assert "caller ID" in page
    assert "reason code due in 44 h" in page  # MISSED began at 06:00; due 06:00 Thursday


def test_board_filters_by_late_missed_and_carer(as_coordinator: Office, session: Session,
                                               clock: FixedClock) -> None:
    _day(session)
    clock.set(NINE_AM + timedelta(minutes=40))
    # Nobody has called: both 09:00 visits are late, the 06:00 one missed.
    assert _refs(as_coordinator.get("/office/?status=late").get_data(as_text=True)) == [
        "LATE", "ONTIME"]
    assert _refs(as_coordinator.get("/office/?status=missed").get_data(as_text=True)) == [
        "MISSED"]
    assert _refs(as_coordinator.get("/office/?carer=C1").get_data(as_text=True)) == [
        "ONTIME", "LATER"]
    live = as_coordinator.get("/office/board/live?status=missed").get_data(as_text=True)
    assert _refs(live) == ["MISSED"] and "<html" not in live


def test_board_shows_a_double_up_with_one_carer_in_as_short_of_a_carer(
        as_coordinator: Office, twilio: TwilioClient, session: Session,
        clock: FixedClock) -> None:
    joan = make_adult(session, ref="A1", landlines=(LANDLINE,))
    amy = make_care_worker(session, ref="C1", staff_number="1234", pin="5678")
    ben = make_care_worker(session, ref="C2", staff_number="2345", pin="6190",
                           given_name="Ben", family_name="Taylor")
    make_planned_visit(session, joan, [amy, ben], start=NINE_AM, ref="HOIST")
    session.commit()
    clock.set(NINE_AM + timedelta(minutes=2))
    play(twilio, LANDLINE, "1234", "5678")  # Amy alone: two-person care has not begun
    clock.set(NINE_AM + timedelta(minutes=5))
    page = as_coordinator.get("/office/").get_data(as_text=True)
    assert '<tr class="row-short-carer" data-ref="HOIST" ' in page
    assert '<span class="status status-short-carer">Short of a carer</span>' in page
    assert '<span class="sub carers-note">1 of 2 carers</span>' in page
    assert "<strong>1</strong> short of a carer" in page
    assert "<strong>0</strong> in progress" in page  # not in progress as if fully staffed
    assert "reason code" not in page  # attended: none is asked for (council FAQ)
    for status in ("short_of_carer", "attention"):
        assert _refs(as_coordinator.get(f"/office/?status={status}").get_data(
            as_text=True)) == ["HOIST"]
    visit = as_coordinator.get("/office/visits/HOIST").get_data(as_text=True)
    assert "1 of 2 carers" in visit and "None needed" in visit
    refused = as_coordinator.post("/office/visits/HOIST/reason", {"code": "client_in_hospital"},
                                  follow_redirects=True).get_data(as_text=True)
    assert ("Visit HOIST is short of a carer: a reason code is recorded only for a missed or "
            "cancelled visit.") in refused

    clock.set(NINE_AM + timedelta(minutes=12))
    play(twilio, LANDLINE, "2345", "6190")  # Ben arrives: both are there
    page = as_coordinator.get("/office/").get_data(as_text=True)
    assert '<span class="status status-progress">In progress</span>' in page
    assert "carers-note" not in page and "<strong>0</strong> short of a carer" in page


def test_board_of_another_day_does_not_refresh_itself(as_coordinator: Office,
                                                      session: Session) -> None:
    _day(session)
    page = as_coordinator.get("/office/?date=2026-01-12").get_data(as_text=True)
    assert 'data-refresh-seconds="0"' in page
    assert "No visits match." in page


def test_kpis_count_on_time_late_missed_and_short(
        as_coordinator: Office, twilio: TwilioClient, session: Session, clock: FixedClock,
        database: Database, settings: Settings) -> None:
    _day(session)
    clock.set(NINE_AM + timedelta(minutes=5))
    play(twilio, "+441134960001", "1234", "5678")
    clock.set(NINE_AM + timedelta(minutes=20))
    play(twilio, "+441134960001", "1234", "5678")  # 15 minutes of 30: short
    clock.set(NINE_AM + timedelta(minutes=50))
    play(twilio, "+441134960003", "2345", "6190")  # 50 minutes late
    clock.set(NINE_AM + timedelta(hours=2))
    page = as_coordinator.get("/office/kpi?from=2026-01-12&to=2026-01-13").get_data(
        as_text=True)
    # The council report's figures and charts (ivr_gateway.ecc.kpi), not a second computation.
    assert page.count("<svg") == 7
    row = ('<th scope="row">Tue 13 Jan</th><td>4</td><td>1</td><td>1</td><td>0</td><td>1</td>'
           '<td>1</td><td>0</td><td>1</td>')
    assert row in page
    assert "KPI 3" in page and "<dt>" in page  # the definitions are on the page
    report = as_coordinator.get("/office/kpi/report.html?from=2026-01-13&to=2026-01-13")
    assert report.status_code == 200
    assert "attachment" in report.headers["Content-Disposition"]
    assert report.get_data(as_text=True).count("<svg") == 7
    visits = as_coordinator.get("/office/kpi/visits.csv?from=2026-01-13&to=2026-01-13")
    assert visits.mimetype == "text/csv"
    assert {"ONTIME", "LATE", "MISSED", "LATER"} <= {
        line.split(",")[0] for line in visits.get_data(as_text=True).splitlines()}
    assert "at most 62 days" in as_coordinator.get(
        "/office/kpi?from=2025-01-01&to=2026-01-13").get_data(as_text=True)


def test_carer_pages_unlock_reset_pin_and_change_language(
        as_manager: Office, session: Session, database: Database, clock: FixedClock) -> None:
    carer = make_care_worker(session, ref="C1", staff_number="1234", pin="5678")
    carer.locked_until = clock.now() + timedelta(minutes=10)
    session.commit()
    assert "Locked until 09:10" in as_manager.get("/office/care-workers").get_data(as_text=True)
    as_manager.post("/office/care-workers/C1/unlock")
    weak = as_manager.post("/office/care-workers/C1/pin", {"pin": "1111", "pin_again": "1111"},
                           follow_redirects=True).get_data(as_text=True)
    assert "all the same digit" in weak
    as_manager.post("/office/care-workers/C1/pin", {"pin": "2580", "pin_again": "2580"})
    as_manager.post("/office/care-workers/C1/details",
                    {"mobiles": "07400 123456", "language": "pl"})
    with database.unit_of_work() as db:
        stored = db.scalars(select(CareWorker)).one()
        assert stored.locked_until is None
        assert stored.language == "pl"
        assert [m.number for m in stored.mobiles] == ["+447400123456"]
        actions = [a.action for a in db.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert actions == ["unlock", "update", "update"]


def test_user_create_reads_the_password_from_stdin_and_it_logs_in(
        database: Database, office: Office) -> None:
    result = CliRunner().invoke(
        main, ["user", "create", "Dee", "--role", "manager", "--password-stdin"],
        input="a long office passphrase\n", env={"DATABASE_URL": database.url})
    assert result.exit_code == 0, result.output
    assert "'dee' created as manager" in result.output
    assert office.login("dee", "a long office passphrase").status_code == 302
    weak = CliRunner().invoke(main, ["user", "create", "eve", "--role", "coordinator",
                                     "--password-stdin"], input="short\n",
                              env={"DATABASE_URL": database.url})
    assert weak.exit_code != 0 and "at least 12 characters" in weak.output


def test_user_create_prompts_twice_and_unlock_lifts_a_lockout(database: Database,
                                                              office: Office) -> None:
    env = {"DATABASE_URL": database.url}
    result = CliRunner().invoke(main, ["user", "create", "fay", "--role", "administrator"],
                                input="a sturdy passphrase\na sturdy passphrase\n", env=env)
    assert result.exit_code == 0, result.output
    lock_by_guessing(office.client.application, "fay")
    assert office.login("fay", "a sturdy passphrase").status_code == 401  # locked
    listed = CliRunner().invoke(main, ["user", "list"], env=env)
    assert listed.output.startswith("fay ") and "administrator" in listed.output
    assert "fay unlocked." in CliRunner().invoke(main, ["user", "unlock", "fay"],
                                                 env=env).output
    assert office.login("fay", "a sturdy passphrase").status_code == 302


def test_the_demo_prints_an_office_login_that_works(database: Database, office: Office,
                                                    clock: FixedClock) -> None:
    settings = Settings(database_url=database.url)
    with database.unit_of_work() as session:
        info = load_demo_rota(session, clock.now(), settings)
        user = session.scalars(select(OfficeUser)).one()
        assert user.role == OfficeRole.ADMINISTRATOR
    response = office.login(info.office_username, info.office_password)
    assert response.status_code == 302
    board = office.get("/office/").get_data(as_text=True)
    assert 'data-ref="DEMO-2"' in board and "Late" in board


def test_the_migration_seeds_the_reason_code_list(sqlite_template: Path) -> None:
    database = Database(f"sqlite:///{sqlite_template}")
    try:
        with database.unit_of_work() as session:
            codes = {c.code: c for c in session.scalars(select(ReasonCode))}
    finally:
        database.dispose()
    assert codes["other"].applies_to == "any"
    assert codes["client_in_hospital"].label == "Client in hospital"
    assert len(codes) >= 10
