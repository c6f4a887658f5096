"""GET /api/v1/changes: every change to a visit, in order, with the domain's verdicts, in pages."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.models import LogKind, VisitStatus
from ivr_gateway.visits.reason_codes import record_reason_code
from tests.api.conftest import Api, adult_body, care_worker_body, visit_body
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.webhooks.conftest import announce_planned, log

T0 = datetime(2026, 1, 13, 8, 0, tzinfo=UTC)


def read_all(api: Api, limit: int = 100, after: str | None = None, *, expect: int = 0
             ) -> tuple[list[dict], str]:
    """Every entry from `after` on, page by page, until at least `expect` came; the last cursor.

    On PostgreSQL an entry shows once every transaction older than its writer has ended, in
    any database of the cluster (visits/feed.py), so a test's entries may take a moment.
    """
    entries: list[dict] = []
    deadline = time.monotonic() + 30
    while True:
        query = f"/changes?limit={limit}" + (f"&after={after}" if after else "")
        body = api.get(query).get_json()
        entries.extend(body["changes"])
        after = body["next_cursor"]
        if not body["more"]:
            if len(entries) >= expect or time.monotonic() > deadline:
                return entries, after
            time.sleep(0.05)


def test_a_log_in_and_out_show_as_log_events_with_the_planned_visit_and_its_verdicts(
        api: Api, database: Database, clock: FixedClock) -> None:
    assert api.put("/adults/A1", adult_body()).status_code == 201
    assert api.put("/care-workers/C1", care_worker_body()).status_code == 201
    assert api.put("/planned-visits/V1", visit_body()).status_code == 201
    with database.unit_of_work() as session:
        adult_id, carer_id = session.execute(text("select a.id, c.id from adults a, "
                                                  "care_workers c")).one()
        log(session, carer_id, adult_id, T0 + timedelta(minutes=40), LogKind.IN)
    with database.unit_of_work() as session:
        log(session, carer_id, adult_id, T0 + timedelta(minutes=70), LogKind.OUT)
    clock.set(T0 + timedelta(hours=2))

    entries, _ = read_all(api, expect=3)

    assert [e["type"] for e in entries] == [
        "planned_visit.changed", "log_event.recorded", "log_event.recorded"]
    assert {e["planned_visit_ref"] for e in entries} == {"V1"}
    log_in, log_out = entries[1], entries[2]
    assert (log_in["log_event"]["kind"], log_in["log_event"]["event_time"]) == (
        "in", "2026-01-13T08:40:00Z")
    assert log_out["log_event"]["kind"] == "out"
    assert log_out["actual_visit"]["state"] == "closed"
    assert log_out["actual_visit"]["care_worker_ref"] == "C1"
    # Judged when read: the visit is completed, 40 minutes late; the council says late.
    visit = log_out["visit"]
    assert (visit["outcome"], visit["minutes_late"]) == ("completed", 40)
    assert visit["council_verdict"]["timeliness"] == "late"
    assert visit["reason_code"]["needed"] is False


def test_a_cancellation_and_its_reason_code_are_in_the_feed(
        api: Api, database: Database, clock: FixedClock, settings: Settings) -> None:
    assert api.put("/adults/A1", adult_body()).status_code == 201
    assert api.put("/care-workers/C1", care_worker_body()).status_code == 201
    assert api.put("/planned-visits/V1", visit_body()).status_code == 201
    assert api.put("/planned-visits/V1", visit_body(
        status="cancelled", cancel_reason="client_in_hospital")).status_code == 200
    with database.unit_of_work() as session:
        record_reason_code(session, "V1", "client_cancelled", "family rang",
                           settings=settings, now=clock.now(), actor="office:jo")

    entries, _ = read_all(api, expect=3)

    assert [e["type"] for e in entries] == [
        "planned_visit.changed", "planned_visit.cancelled", "reason_code.recorded"]
    reason = entries[2]
    assert reason["detail"]["changed_by"] == "office:jo"
    assert reason["detail"]["changes"]["reason_code"] == [None, "client_cancelled"]
    assert reason["visit"]["status"] == "cancelled"
    assert reason["visit"]["reason_code"]["code"] == "client_cancelled"


def test_a_reader_away_a_week_catches_up_in_pages_without_a_gap_or_a_repeat(
        api: Api, database: Database) -> None:
    with database.unit_of_work() as session:
        adult = make_adult(session)
        carer = make_care_worker(session)
        for day in range(7):
            for hour in range(3):
                at = T0 + timedelta(days=day, hours=hour * 3)
                make_planned_visit(session, adult, [carer], start=at, ref=f"V{day}-{hour}")
                announce_planned(session, f"V{day}-{hour}", at)
    first, cursor = read_all(api, limit=4, expect=21)
    assert len(first) == 21
    assert [e["planned_visit_ref"] for e in first] == [
        f"V{d}-{h}" for d in range(7) for h in range(3)]
    assert len({e["position"] for e in first}) == 21

    with database.unit_of_work() as session:  # the reader comes back later: only what is new
        announce_planned(session, "V0-0", T0 + timedelta(days=8))
    later, _ = read_all(api, limit=4, after=cursor, expect=1)
    assert [e["planned_visit_ref"] for e in later] == ["V0-0"]
    # An entry's own position is a cursor too: reading after it gives what followed it.
    after_fifth, _ = read_all(api, limit=100, after=first[4]["position"], expect=17)
    assert [e["position"] for e in after_fifth] == [e["position"] for e in first[5:] + later]


def test_a_cancelled_visit_made_by_the_factory_is_not_in_the_feed_until_announced(
        api: Api, database: Database) -> None:
    with database.unit_of_work() as session:
        adult = make_adult(session)
        carer = make_care_worker(session)
        make_planned_visit(session, adult, [carer], start=T0, ref="VX",
                           status=VisitStatus.CANCELLED)
    assert read_all(api)[0] == []
    with database.unit_of_work() as session:
        announce_planned(session, "VX", T0)
    assert [e["type"] for e in read_all(api, expect=1)[0]] == ["planned_visit.cancelled"]


def test_a_cursor_not_handed_out_or_a_limit_out_of_range_is_refused_by_name(api: Api) -> None:
    bad = api.get("/changes?after=not-a-cursor")
    assert bad.status_code == 422
    assert bad.get_json()["error"]["fields"][0]["field"] == "after"
    too_many = api.get("/changes?limit=501")
    assert too_many.status_code == 422
    assert too_many.get_json()["error"]["fields"][0]["field"] == "limit"
    assert api.get("/changes?limit=500").status_code == 200
