"""The demo: an alert is raised within a couple of minutes of starting, and can be acknowledged."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.demo import load_demo_rota
from ivr_gateway.demo.banner import alert_time, demo_banner
from ivr_gateway.escalation.acknowledgement import acknowledge_by_text
from ivr_gateway.escalation.demo import load_demo_contacts
from ivr_gateway.escalation.models import AlertKind, AlertState
from ivr_gateway.hashing import verify_pin
from ivr_gateway.models import Adult, AdultLandline, CareWorker, CareWorkerMobile, PlannedVisit
from ivr_gateway.sms.models import CodeSheet, VisitCodeToken
from tests.api.conftest import Api
from tests.escalation.conftest import Escalation


def test_demo_raises_a_late_start_within_two_minutes_and_it_can_be_acknowledged(
        session: Session, escalation: Escalation, settings: Settings, api: Api) -> None:
    started = escalation.clock.now()
    load_demo_rota(session, started, settings)
    contacts = load_demo_contacts(session, started)
    session.commit()
    escalation.tick()
    escalation.run_until(started + timedelta(minutes=2, seconds=30),
                         step=timedelta(seconds=30))  # the real tick interval
    demo7 = [a for a in escalation.alerts() if a.summary.startswith("M.B.")]
    assert [a.kind for a in demo7] == [AlertKind.LATE_START]
    assert demo7[0].raised_at - started <= timedelta(minutes=2, seconds=30)
    coordinator = contacts[0].mobile
    assert any(t.startswith(f"EHM alert {demo7[0].number}: M.B.")
               for t in escalation.texts(coordinator))
    acked = api.post(f"/alerts/{demo7[0].id}/acknowledge", {"by": "Sam Carter"})
    assert acked.get_json()["acknowledged"] is True
    assert [a.state for a in escalation.alerts() if a.id == demo7[0].id] == [
        AlertState.ACKNOWLEDGED]


def _visits_today(session: Session, staff_number: str, adult: Adult, day: date,
                  settings: Settings) -> list[PlannedVisit]:
    carer = session.scalar(select(CareWorker).where(CareWorker.staff_number == staff_number))
    assert carer is not None
    visits = session.scalars(select(PlannedVisit).where(PlannedVisit.adult_id == adult.id))
    return [v for v in visits
            if carer in v.care_workers and v.planned_start.astimezone(settings.tz).date() == day]


def _adult_on_landline(session: Session, number: str) -> list[Adult]:
    return [line.adult for line in session.scalars(
        select(AdultLandline).where(AdultLandline.number == number))]


@pytest.mark.parametrize("started", [
    datetime(2026, 1, 13, 9, 0, tzinfo=UTC),   # a Tuesday, 09:00 in London: office hours
    datetime(2026, 1, 13, 20, 0, tzinfo=UTC),  # the same evening: out of office hours
], ids=["office-hours", "out-of-hours"])
def test_every_claim_of_the_demo_banner_holds_for_the_rota_it_loaded(
        session: Session, escalation: Escalation, settings: Settings, started: datetime) -> None:
    escalation.clock.set(started)
    info = load_demo_rota(session, started, settings)
    contacts = load_demo_contacts(session, started)
    session.commit()
    banner = demo_banner(info, contacts, settings, started, "http://127.0.0.1:5000",
                         "sqlite:///demo.sqlite3", "ivr-gateway", "")
    today = started.astimezone(settings.tz).date()
    tz = settings.tz

    # Carers: each carer number, name and PIN is a carer of the rota, and the PIN works.
    carer_lines = re.findall(r"^ {4}(\w+ \w+)\s+carer number (\d+)\s+PIN (\d+)", banner, re.M)
    assert len(carer_lines) == 3
    for name, staff_number, pin in carer_lines:
        carer = session.scalar(select(CareWorker).where(CareWorker.staff_number == staff_number))
        assert carer is not None and f"{carer.given_name} {carer.family_name}" == name
        assert verify_pin(carer.pin_hash, pin, settings.pin_pepper)
    # Landlines: each is registered to the clients whose initials it lists.
    for number, who in re.findall(r"^ {4}(\+44\d+)\s+(.+)$", banner, re.M):
        assert " and ".join(a.initials for a in _adult_on_landline(session, number)) == who

    # Calls: the carer keyed in has a visit today at a client of the line (or client number).
    calls = re.findall(r"simulate call --from (\S+) --keys ([\d,]+)", banner)
    assert len(calls) == 3
    staff_calling = set()
    for caller, keys in calls:
        *choice, staff_number, pin = keys.split(",")
        staff_calling.add(staff_number)
        if caller == "anonymous":
            adults = list(session.scalars(select(Adult).where(
                Adult.client_number == choice[0])))
        else:
            adults = _adult_on_landline(session, "+44" + caller.removeprefix("0"))
            if choice:  # a shared line: the client pressed for
                adults = [adults[int(choice[0]) - 1]]
        assert adults and all(_visits_today(session, staff_number, a, today, settings)
                              for a in adults), (caller, keys)

    # Texts: each mobile texting IN is a carer's, due today where the code is kept.
    texts = re.findall(r'simulate sms --from (\+\d+) "IN', banner)
    token = session.scalar(select(VisitCodeToken).where(
        VisitCodeToken.serial == info.token_serial))
    sheet = session.scalar(select(CodeSheet).where(CodeSheet.sheet_number == info.sheet_number))
    assert token is not None and sheet is not None and sheet.retired_at is None
    assert f"codes now {info.token_serial}" in banner
    staff_texting = set()
    for mobile, home in zip(texts, [token.adult, sheet.adult], strict=True):
        owner = session.scalar(select(CareWorkerMobile).where(CareWorkerMobile.number == mobile))
        assert owner is not None
        staff_texting.add(owner.care_worker.staff_number)
        assert _visits_today(session, owner.care_worker.staff_number, home, today, settings)
    assert f"printed sheet {info.sheet_number}" in banner and sheet.adult.given_name == "Mary"

    # The carer who "will not log in" is due at Mary's then, and no example above logs them in.
    [(no_show, due_at)] = re.findall(r"(\w+) is due\s+at Mary Brown's at (\d\d:\d\d)\s+and will "
                                     r"not log in", banner)
    ben = session.scalar(select(CareWorker).where(CareWorker.given_name == no_show))
    assert ben is not None and ben.staff_number not in staff_calling | staff_texting
    mary = sheet.adult
    assert due_at in {f"{v.planned_start.astimezone(tz):%H:%M}"
                      for v in _visits_today(session, ben.staff_number, mary, today, settings)}

    # Alerts: Edith's is raised at the first tick, as alert 1 (the API example acknowledges 1).
    session.rollback()  # end the read transaction: the scheduler writes now
    escalation.tick()
    [first] = escalation.alerts()
    assert first.id == 1 and first.kind == AlertKind.LATE_START and first.summary.startswith(
        "E.C.")
    assert "alerts/1/acknowledge" in banner
    # Ben's follows at the time printed, to the person the banner names, at the mobile it gives.
    [(follows_at)] = re.findall(r"alert follows at (\d\d:\d\d)", banner)
    escalation.run_until(alert_time(info, settings) + timedelta(seconds=30),
                         step=timedelta(seconds=30))
    [bens] = [a for a in escalation.alerts() if a.summary.startswith("M.B.")]
    assert f"{bens.raised_at.astimezone(tz):%H:%M}" == follows_at
    [ack_from] = re.findall(r'simulate sms --from (\+\d+) "ACK"', banner)
    told = next(c for c in contacts if c.mobile == ack_from)
    office_open = started.hour < 12
    assert ("Office hours then:" in banner) is office_open
    assert told.role == ("coordinator" if office_open else "on_call")
    assert f"{told.name}, " in banner
    assert any(t.startswith(f"EHM alert {bens.number}: M.B.") for t in escalation.texts(ack_from))
    assert (ack_from in escalation.calls(ack_from)) is not office_open  # rung only out of hours
    with escalation.database.unit_of_work() as ack_session:
        reply = acknowledge_by_text(ack_session, ack_from, "ACK", escalation.clock.now(), settings)
    assert reply is not None
    assert [a.state for a in escalation.alerts() if a.id == bens.id] == [
        AlertState.ACKNOWLEDGED]
