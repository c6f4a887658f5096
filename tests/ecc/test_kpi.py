"""KPI report definitions on hand-made days, including the spring clock change."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from pathlib import Path
from xml.etree import ElementTree

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.ecc.kpi import (
    KpiReport,
    ReasonStatus,
    Timeliness,
    build_kpi_report,
)
from ivr_gateway.ecc.kpi_report import kpi_html, summary_csv, visits_csv, write_kpi_files
from ivr_gateway.models import AuditEntry, LogKind, PlannedVisit, Verification, VisitStatus
from ivr_gateway.visits.models import VisitReasonCode
from ivr_gateway.visits.queries import visits_for_day
from tests.ecc.conftest import log
from tests.factories import make_adult, make_care_worker, make_planned_visit

DAY = date(2026, 1, 13)  # winter: London is UTC


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    """A UTC instant on the day."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _visit_in_out(session: Session, carer_id: int, adult_id: int, start: datetime,
                  end: datetime, verification: Verification = Verification.CALLER_ID,
                  out_verification: Verification | None = None) -> None:
    log(session, carer_id, adult_id, start, verification=verification, kind=LogKind.IN)
    log(session, carer_id, adult_id, end, verification=out_verification or verification,
        kind=LogKind.OUT)


def _hand_made_day(database: Database) -> None:
    with database.unit_of_work() as session:
        joan = make_adult(session, ref="JOAN", given_name="Joan", family_name="Smith")
        mary = make_adult(session, ref="MARY", given_name="Mary", family_name="Brown",
                          landlines=("+441134960002",))
        ruth = make_adult(session, ref="RUTH", given_name="Ruth", family_name="Green",
                          landlines=("+441134960003",))
        amy = make_care_worker(session, ref="AMY", staff_number="1111", given_name="Amy")
        ben = make_care_worker(session, ref="BEN", staff_number="2222", given_name="Ben")
        # Joan: on time; time-critical 40 min early; 45 min late and short; not attended.
        make_planned_visit(session, joan, [amy], start=at(8), ref="J-ON-TIME")
        make_planned_visit(session, joan, [amy], start=at(12), ref="J-EARLY-CRITICAL",
                           time_critical=True)
        make_planned_visit(session, joan, [amy], start=at(17), ref="J-LATE-SHORT")
        make_planned_visit(session, joan, [amy], start=at(21), ref="J-MISSED")
        _visit_in_out(session, amy.id, joan.id, at(8, 10), at(8, 40),
                      out_verification=Verification.TOKEN_CODE)
        _visit_in_out(session, amy.id, joan.id, at(11, 20), at(11, 50))
        _visit_in_out(session, amy.id, joan.id, at(17, 45), at(17, 55),
                      verification=Verification.SHEET_CODE)
        # Mary: two visits done as one (the second merged into the first); after 11 pm.
        make_planned_visit(session, mary, [ben], start=at(8), ref="M-FIRST")
        make_planned_visit(session, mary, [ben], start=at(8, 45), ref="M-MERGED")
        make_planned_visit(session, mary, [ben], start=at(22), ref="M-AFTER-11")
        _visit_in_out(session, ben.id, mary.id, at(8, 20), at(9, 15))
        _visit_in_out(session, ben.id, mary.id, at(23, 10), at(23, 40),
                      verification=Verification.UNVERIFIED)
        # Ruth: Amy's 10:00 visit started after Ben's 11:00 visit began; a cancellation.
        make_planned_visit(session, ruth, [amy], start=at(10), ref="R-AFTER-NEXT")
        make_planned_visit(session, ruth, [ben], start=at(11), ref="R-NEXT")
        cancelled = make_planned_visit(session, ruth, [ben], start=at(15), ref="R-CANCELLED",
                                       status=VisitStatus.CANCELLED)
        cancelled.cancel_reason = "CLIENT_IN_HOSPITAL"
        session.add(AuditEntry(at=at(7), actor="api:rota", action="cancel",
                               entity="planned_visit", entity_ref="R-CANCELLED", detail={}))
        _visit_in_out(session, amy.id, ruth.id, at(11, 5), at(11, 35))
        _visit_in_out(session, ben.id, ruth.id, at(11, 6), at(11, 36))


def _report(database: Database, settings: Settings, now: datetime) -> KpiReport:
    with database.unit_of_work() as session:
        return build_kpi_report(session, DAY, DAY, settings, now)


def test_each_visit_is_judged_by_the_contract_kpi(database: Database,
                                                    settings: Settings) -> None:
    _hand_made_day(database)
    report = _report(database, settings, at(9, day=date(2026, 1, 16)))
    lines = {v.ref: v for v in report.visits}
    judged = {ref: (v.timeliness, v.kpi3_met) for ref, v in lines.items()}
    assert judged == {
        "J-ON-TIME": (Timeliness.ON_TIME, True),
        "J-EARLY-CRITICAL": (Timeliness.LATE, False),  # outside +/- 30 min
        "J-LATE-SHORT": (Timeliness.LATE, True),  # late, but by 11 pm and before the next
        "J-MISSED": (Timeliness.MISSED, False),
        "M-FIRST": (Timeliness.ON_TIME, True),
        "M-MERGED": (Timeliness.MISSED, False),
        "M-AFTER-11": (Timeliness.MISSED, False),
        "R-AFTER-NEXT": (Timeliness.MISSED, False),
        "R-NEXT": (Timeliness.ON_TIME, True),
        "R-CANCELLED": (Timeliness.CANCELLED, None),
    }
    assert lines["M-MERGED"].missed_because == "merged into the visit of BEN"
    assert lines["M-AFTER-11"].missed_because == "started after 11 pm"
    assert lines["R-AFTER-NEXT"].missed_because == "started after the next planned visit's start"
    assert lines["J-MISSED"].missed_because == "not attended"
    assert [ref for ref, v in lines.items() if v.short] == ["J-LATE-SHORT"]
    total = report.total
    assert (total.visits, total.on_time, total.late, total.missed, total.cancelled) == (
        10, 3, 2, 4, 1)
    assert total.kpi3_rate == 4 / 9
    assert dict(total.verification) == {"ivr": 9, "token": 1, "sheet": 2, "unverified": 2}
    assert report.by_carer["AMY Amy Jones"].missed == 2
    assert report.by_client["MARY Mary Brown"].verification["unverified"] == 2


def test_reason_codes_are_due_within_48_hours_whenever_they_were_recorded(
        database: Database, settings: Settings) -> None:
    _hand_made_day(database)
    lines = {v.ref: v for v in _report(database, settings, at(9, day=date(2026, 1, 14))).visits}
    assert lines["R-CANCELLED"].reason_status == ReasonStatus.ON_TIME
    assert lines["R-CANCELLED"].reason_code == "CLIENT_IN_HOSPITAL"
    assert lines["J-MISSED"].reason_status == ReasonStatus.OUTSTANDING
    assert lines["J-MISSED"].reason_due_at == at(21, day=date(2026, 1, 15))
    assert lines["J-ON-TIME"].reason_status == ReasonStatus.NOT_NEEDED

    with database.unit_of_work() as session:
        ids = {v.ref: v.id for v in session.scalars(select(PlannedVisit))}
        session.add_all([
            VisitReasonCode(planned_visit_id=ids["J-MISSED"], code="no_carer_available",
                            recorded_at=at(10, day=date(2026, 1, 14)), recorded_by="office:jo"),
            VisitReasonCode(planned_visit_id=ids["M-MERGED"], code="rota_error",
                            recorded_at=at(8, day=date(2026, 1, 16)), recorded_by="office:jo")])
    report = _report(database, settings, at(9, day=date(2026, 1, 20)))
    lines = {v.ref: v for v in report.visits}
    assert lines["J-MISSED"].reason_status == ReasonStatus.ON_TIME
    assert lines["M-MERGED"].reason_status == ReasonStatus.LATE
    assert lines["M-AFTER-11"].reason_status == ReasonStatus.OVERDUE
    # needed: 4 missed + 1 cancelled; on time: J-MISSED and the cancellation
    assert (report.total.reasons_needed, report.total.reasons_on_time) == (5, 2)


def test_a_visit_not_yet_due_is_pending_and_in_no_rate(database: Database,
                                                       settings: Settings) -> None:
    _hand_made_day(database)
    lines = {v.ref: v for v in _report(database, settings, at(20, 30)).visits}
    assert lines["J-MISSED"].timeliness == Timeliness.PENDING  # 21:00 visit, it is 20:30
    assert lines["J-MISSED"].kpi3_met is None


SPRING = date(2026, 3, 29)  # clocks go forward at 01:00 UTC: 23 hours, then BST (UTC+1)


def test_on_the_spring_clock_change_day_11_pm_is_local_time_and_the_day_has_23_hours(
        database: Database, settings: Settings) -> None:
    with database.unit_of_work() as session:
        joan = make_adult(session)
        amy = make_care_worker(session)
        ben = make_care_worker(session, staff_number="2222")
        make_planned_visit(session, joan, [amy], start=at(0, 30, SPRING), ref="EARLY-GMT")
        make_planned_visit(session, joan, [amy], start=at(21, 30, SPRING), ref="LATE-BST")
        make_planned_visit(session, joan, [ben], start=at(23, 30, SPRING), ref="NEXT-DAY")
        _visit_in_out(session, amy.id, joan.id, at(0, 40, SPRING), at(1, 10, SPRING))
        # 22:10 UTC is 23:10 in London: after 11 pm, though before 23:00 by the UTC clock.
        _visit_in_out(session, amy.id, joan.id, at(22, 10, SPRING), at(22, 40, SPRING))
    with database.unit_of_work() as session:
        report = build_kpi_report(session, SPRING, SPRING, settings,
                                  at(12, day=date(2026, 4, 2)))
    lines = {v.ref: v for v in report.visits}
    assert set(lines) == {"EARLY-GMT", "LATE-BST"}  # 23:30 UTC is 00:30 on 30 March
    assert lines["EARLY-GMT"].timeliness == Timeliness.ON_TIME
    assert lines["EARLY-GMT"].duration_minutes == 30  # across the missing hour, in real time
    assert lines["LATE-BST"].timeliness == Timeliness.MISSED
    assert lines["LATE-BST"].missed_because == "started after 11 pm"
    assert list(report.by_day) == [SPRING]
    row = next(r for r in csv.DictReader(io.StringIO(visits_csv(report)))
               if r["visit_ref"] == "LATE-BST")
    assert (row["planned_start"], row["actual_start"]) == ("2026-03-29 22:30",
                                                            "2026-03-29 23:10")


def test_the_report_files_are_csv_and_one_self_contained_html_page_with_charts(
        database: Database, settings: Settings, tmp_path: Path) -> None:
    _hand_made_day(database)
    report = _report(database, settings, at(9, day=date(2026, 1, 16)))
    paths = write_kpi_files(report, tmp_path)
    assert sorted(p.name for p in paths) == [
        "kpi-2026-01-13_2026-01-13.html", "kpi-summary-2026-01-13_2026-01-13.csv",
        "kpi-visits-2026-01-13_2026-01-13.csv"]
    summary = list(csv.DictReader(io.StringIO(summary_csv(report))))
    total = summary[0]
    assert (total["group"], total["visits"], total["missed"], total["kpi3_rate"]) == (
        "total", "10", "4", "44.4%")
    assert {r["group"] for r in summary} == {"total", "day", "carer", "client"}
    page = kpi_html(report)
    charts = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert len(charts) >= 7
    for chart in charts:  # each chart is well-formed SVG with a bar per figure
        root = ElementTree.fromstring(chart)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert 'fill="#c62828"><title>Tue 13 Jan: 4 missed</title>' in page
    assert "<script" not in page and "<link" not in page
    assert re.findall(r'(?:src|href)="http', page) == []  # nothing fetched: opens offline
    assert "merged into the visit of BEN" in page
    assert "Essex contract, Schedule 2, KPI 3" in page  # the definitions travel with it


def test_reason_codes_recorded_in_the_office_count_in_the_kpi_report(
        database: Database, settings: Settings) -> None:
    from ivr_gateway.visits.reason_codes import record_reason_code
    _hand_made_day(database)
    with database.unit_of_work() as session:
        record_reason_code(session, "J-MISSED", "carer_delayed", "", settings=settings,
                           now=at(10, day=date(2026, 1, 14)), actor="office:cora")
    report = _report(database, settings, at(9, day=date(2026, 1, 20)))
    lines = {v.ref: v for v in report.visits}
    assert lines["J-MISSED"].reason_status == ReasonStatus.ON_TIME
    assert lines["J-MISSED"].reason_code == "carer_delayed"
    assert lines["M-MERGED"].reason_status == ReasonStatus.OVERDUE


# --- Double-up visits: two carers booked -------------------------------------------------------

def _double_up_day(database: Database) -> None:
    with database.unit_of_work() as session:
        dot = make_adult(session, ref="DOT", given_name="Dot", family_name="Hill")
        amy = make_care_worker(session, ref="AMY", staff_number="1111", given_name="Amy")
        ben = make_care_worker(session, ref="BEN", staff_number="2222", given_name="Ben")
        make_planned_visit(session, dot, [amy, ben], start=at(8), ref="D-BOTH")
        make_planned_visit(session, dot, [amy, ben], start=at(12), ref="D-SECOND-LATE")
        make_planned_visit(session, dot, [amy, ben], start=at(17), ref="D-ALONE")
        make_planned_visit(session, dot, [amy, ben], start=at(20), ref="D-NEVER-TOGETHER")
        _visit_in_out(session, amy.id, dot.id, at(8, 5), at(8, 35))
        _visit_in_out(session, ben.id, dot.id, at(8, 6), at(8, 36))
        _visit_in_out(session, amy.id, dot.id, at(12), at(12, 50))
        _visit_in_out(session, ben.id, dot.id, at(12, 45), at(12, 55))
        _visit_in_out(session, amy.id, dot.id, at(17), at(17, 30))  # Ben never came
        _visit_in_out(session, amy.id, dot.id, at(20), at(20, 15))  # Amy left before Ben came
        _visit_in_out(session, ben.id, dot.id, at(20, 20), at(20, 35))


def test_a_double_up_is_delivered_only_when_both_carers_were_there(
        database: Database, settings: Settings) -> None:
    _double_up_day(database)
    report = _report(database, settings, at(9, day=date(2026, 1, 16)))
    lines = {v.ref: v for v in report.visits}
    judged = {ref: (v.timeliness, v.kpi3_met, v.missed_because) for ref, v in lines.items()}
    assert judged == {
        "D-BOTH": (Timeliness.ON_TIME, True, ""),
        # The first carer was on time, but two-person care began when the second came, 45
        # minutes after planned start: late (inside the KPI 3 window, so KPI 3 is met).
        "D-SECOND-LATE": (Timeliness.LATE, True, ""),
        "D-ALONE": (Timeliness.SHORT_OF_CARER, False, "double-up: 1 of 2 carers logged in"),
        "D-NEVER-TOGETHER": (Timeliness.SHORT_OF_CARER, False,
                             "double-up: the 2 carers were never logged in at the same time"),
    }
    assert (lines["D-BOTH"].carers_needed, lines["D-BOTH"].carers_logged_in) == (2, 2)
    assert lines["D-BOTH"].all_carers_from == at(8, 6)
    assert lines["D-SECOND-LATE"].actual_start == at(12)  # the first log-in, as ever
    assert lines["D-SECOND-LATE"].all_carers_from == at(12, 45)
    assert lines["D-ALONE"].carers_logged_in == 1
    assert lines["D-ALONE"].absent == (("BEN", "Ben Jones"),)
    assert lines["D-NEVER-TOGETHER"].absent == ()  # both came, just not together
    assert lines["D-ALONE"].reason_status == ReasonStatus.NOT_NEEDED  # see DEFINITIONS
    total = report.total
    assert (total.visits, total.on_time, total.late, total.short_of_carer, total.missed) == (
        4, 1, 1, 2, 0)
    assert total.kpi3_rate == 2 / 4  # a visit short of a carer fails KPI 3
    # By carer: Ben's place on D-ALONE is a missed visit of his; Amy was there for all four.
    ben, amy = report.by_carer["BEN Ben Jones"], report.by_carer["AMY Amy Jones"]
    assert (ben.visits, ben.on_time, ben.late, ben.short_of_carer, ben.missed) == (
        4, 1, 1, 1, 1)
    assert (amy.visits, amy.on_time, amy.late, amy.short_of_carer, amy.missed) == (
        4, 1, 1, 2, 0)
    assert report.by_client["DOT Dot Hill"].short_of_carer == 2


def test_the_board_agrees_with_the_report_on_double_ups_and_asks_no_reason_code(
        database: Database, settings: Settings) -> None:
    _double_up_day(database)
    now = at(9, day=date(2026, 1, 16))
    report = _report(database, settings, now)
    with database.unit_of_work() as session:
        board = {s.ref: s for s in visits_for_day(session, DAY, settings, now)}
    seen = {ref: (s.outcome, s.minutes_late, s.carers_note) for ref, s in board.items()}
    assert seen == {
        "D-BOTH": ("completed", None, ""),
        "D-SECOND-LATE": ("completed", 45, ""),  # late from when Ben came, as in the report
        "D-ALONE": ("short_of_carer", None, "1 of 2 carers"),
        "D-NEVER-TOGETHER": ("short_of_carer", None, "2 carers, never there together"),
    }
    short = {v.ref for v in report.visits if v.timeliness == Timeliness.SHORT_OF_CARER}
    assert short == {ref for ref, s in board.items() if s.outcome == "short_of_carer"}
    # Attended, so no reason code (council FAQ): the report and the office agree.
    assert all(v.reason_status == ReasonStatus.NOT_NEEDED for v in report.visits)
    assert all(not s.reason.needed for s in board.values())
    definition = dict(report.definitions)["Double-up short of a carer"]
    assert "No reason code is needed" in definition and "completed" not in definition


def test_a_double_up_with_one_carer_in_is_pending_until_its_window_closes(
        database: Database, settings: Settings) -> None:
    _double_up_day(database)
    lines = {v.ref: v for v in _report(database, settings, at(17, 10)).visits}
    assert lines["D-ALONE"].timeliness == Timeliness.PENDING  # Ben may still come
    assert lines["D-ALONE"].kpi3_met is None
    assert lines["D-SECOND-LATE"].timeliness == Timeliness.LATE


def test_a_double_up_whose_second_carer_came_after_11_pm_is_short_of_a_carer(
        database: Database, settings: Settings) -> None:
    with database.unit_of_work() as session:
        dot = make_adult(session, ref="DOT")
        amy = make_care_worker(session, ref="AMY", staff_number="1111")
        ben = make_care_worker(session, ref="BEN", staff_number="2222")
        make_planned_visit(session, dot, [amy, ben], start=at(22), minutes=90, ref="D-NIGHT")
        _visit_in_out(session, amy.id, dot.id, at(22), at(23, 30))
        _visit_in_out(session, ben.id, dot.id, at(23, 5), at(23, 30))
    [line] = _report(database, settings, at(9, day=date(2026, 1, 16))).visits
    assert line.timeliness == Timeliness.SHORT_OF_CARER
    assert line.missed_because == "double-up: all 2 carers were there only after 11 pm"
    assert line.all_carers_from == at(23, 5)


def test_a_substitute_alone_on_a_double_up_leaves_an_unfilled_place_not_a_named_carer(
        database: Database, settings: Settings) -> None:
    with database.unit_of_work() as session:
        dot = make_adult(session, ref="DOT")
        amy = make_care_worker(session, ref="AMY", staff_number="1111", given_name="Amy")
        ben = make_care_worker(session, ref="BEN", staff_number="2222", given_name="Ben")
        cat = make_care_worker(session, ref="CAT", staff_number="3333", given_name="Cat")
        make_planned_visit(session, dot, [amy, ben], start=at(8), ref="D-SUB")
        _visit_in_out(session, cat.id, dot.id, at(8), at(8, 30))
    report = _report(database, settings, at(9, day=date(2026, 1, 16)))
    [line] = report.visits
    assert line.carers == (("CAT", "Cat Jones"),)
    assert line.timeliness == Timeliness.SHORT_OF_CARER
    assert line.absent == (("", "unfilled place (carer not known)"),)
    assert report.by_carer["unfilled place (carer not known)"].missed == 1
    assert "AMY Amy Jones" not in report.by_carer and "BEN Ben Jones" not in report.by_carer


def test_the_report_files_show_double_ups_short_of_a_carer_with_their_definition(
        database: Database, settings: Settings) -> None:
    _double_up_day(database)
    report = _report(database, settings, at(9, day=date(2026, 1, 16)))
    total = next(csv.DictReader(io.StringIO(summary_csv(report))))
    assert (total["visits"], total["short_of_carer"], total["kpi3_rate"]) == ("4", "2", "50.0%")
    alone = next(r for r in csv.DictReader(io.StringIO(visits_csv(report)))
                 if r["visit_ref"] == "D-ALONE")
    assert (alone["outcome"], alone["carers_needed"], alone["carers_logged_in"],
            alone["carers_missing"]) == ("short_of_carer", "2", "1", "BEN Ben Jones")
    late = next(r for r in csv.DictReader(io.StringIO(visits_csv(report)))
                if r["visit_ref"] == "D-SECOND-LATE")
    assert (late["actual_start"], late["all_carers_from"]) == ("2026-01-13 12:00",
                                                               "2026-01-13 12:45")
    page = kpi_html(report)
    assert "double-up short of a carer\n2" in page
    assert 'fill="#ef6c00"><title>Tue 13 Jan: 2 short of carer</title>' in page
    assert "<dt>Double-up short of a carer</dt>" in page  # the definition beside the others


def test_the_reason_code_deadline_is_the_configured_hours(database: Database,
                                                          settings: Settings) -> None:
    from dataclasses import replace

    _hand_made_day(database)
    sooner = settings.with_overrides(kpi=replace(settings.kpi, reason_code_due_hours=24))
    report = _report(database, sooner, at(9, day=date(2026, 1, 16)))
    lines = {v.ref: v for v in report.visits}
    assert lines["J-MISSED"].reason_due_at == at(21, day=date(2026, 1, 14))
    assert "within 24 hours" in dict(report.definitions)["Reason code due"]


def test_names_with_markup_come_out_as_text_in_the_report_and_its_charts(
        database: Database, settings: Settings) -> None:
    script, img = "<script>alert(1)</script>", '"><img src=x onerror=1>'
    with database.unit_of_work() as session:
        joan = make_adult(session, ref="X<1>", given_name=script, family_name=img)
        amy = make_care_worker(session, ref="AMY", given_name=img, family_name=script)
        make_planned_visit(session, joan, [amy], start=at(8), ref="V&1")
        _visit_in_out(session, amy.id, joan.id, at(8, 5), at(8, 35))
    report = _report(database, settings, at(9, day=date(2026, 1, 16)))
    page = kpi_html(report)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;img src=x onerror=1&gt;" in page
    assert "<td>V&amp;1</td>" in page
    for chart in re.findall(r"<svg.*?</svg>", page, flags=re.S):
        ElementTree.fromstring(chart)  # still well-formed: the names are text in the SVG
