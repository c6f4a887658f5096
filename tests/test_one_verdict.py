"""One verdict per visit: the board, the API, the alert rules and the KPI report agree.

One day of tricky visits, on the autumn clock-change day (Sunday 25 October 2026: 02:00 BST
becomes 01:00 GMT, so the local day has 25 hours and, from then on, London is UTC). The day is
played forward in fake time, each log event recorded when it happens and the escalation tick
running as the scheduler would; at three moments every reader is asked about every visit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.ecc.kpi import build_kpi_report
from ivr_gateway.escalation.models import Alert, AlertKind, AlertState
from ivr_gateway.models import LogKind, PlannedVisit, Rag, VisitStatus
from ivr_gateway.office.board import build_board
from ivr_gateway.office.escalation_alerts import EscalationAlertSource
from tests.api.conftest import TOKEN, api_token  # noqa: F401 - the API's token fixture
from tests.ecc.conftest import log
from tests.escalation.conftest import Escalation, make_ladder
from tests.factories import make_adult, make_care_worker, make_planned_visit

DAY = date(2026, 10, 25)  # the clocks go back at 02:00 BST


def at(hour: int, minute: int = 0) -> datetime:
    """An instant of the day after the change (London is UTC from 01:00 GMT)."""
    return datetime(2026, 10, 25, hour, minute, tzinfo=UTC)


@dataclass(frozen=True)
class Step:
    """A log event to record when fake time reaches it."""

    at: datetime
    carer: str
    adult: str
    kind: LogKind


def _arrange(session: Session) -> list[Step]:
    adults = {ref: make_adult(session, ref=ref, given_name=ref.title(), family_name="Test",
                              rag=rag, landlines=(f"+4411349600{i:02d}",))
              for i, (ref, rag) in enumerate([
                  ("RED", Rag.RED), ("GREEN", Rag.GREEN), ("TC", Rag.AMBER),
                  ("MERGE", Rag.GREEN), ("DOUBLE", Rag.GREEN), ("CANC", Rag.GREEN),
                  ("NEXT", Rag.GREEN), ("LATE", Rag.GREEN), ("NIGHT", Rag.GREEN)])}
    carers = {ref: make_care_worker(session, ref=ref, staff_number=f"{1000 + i}")
              for i, ref in enumerate(["AMY", "BEN", "CAT", "DAN", "EVE"])}

    def visit(ref: str, adult: str, who: list[str], hour: int, minute: int = 0,
              minutes: int = 30, **kw: Any) -> None:
        make_planned_visit(session, adults[adult], [carers[c] for c in who],
                           start=at(hour, minute), minutes=minutes, ref=ref, **kw)

    # 00:30 BST is 23:30 UTC the day before: the longer day's first hour, delivered on time.
    make_planned_visit(session, adults["NIGHT"], [carers["EVE"]],
                       start=datetime(2026, 10, 24, 23, 30, tzinfo=UTC), ref="V-NIGHT")
    visit("V-RED", "RED", ["AMY"], 9)  # red client, nobody comes
    visit("V-GREEN", "GREEN", ["BEN"], 9)  # the same, for a green client
    visit("V-TC", "TC", ["CAT"], 8, time_critical=True)  # time-critical, 45 minutes late
    visit("V-MERGE-1", "MERGE", ["DAN"], 10)  # Dan stays on ...
    visit("V-MERGE-2", "MERGE", ["DAN"], 11)  # ... through this one: merged, so missed
    visit("V-DOUBLE", "DOUBLE", ["AMY", "BEN"], 12)  # only Amy comes
    visit("V-CANC-ROTA", "CANC", ["CAT"], 13, status=VisitStatus.CANCELLED)
    visit("V-CANC-NONE", "CANC", ["CAT"], 14, status=VisitStatus.CANCELLED)
    visit("V-NEXT-1", "NEXT", ["EVE"], 14)  # Eve comes after the next visit began
    visit("V-NEXT-2", "NEXT", ["BEN"], 15)
    visit("V-LATE", "LATE", ["CAT"], 16)  # 40 minutes late, inside the KPI 3 window
    session.flush()
    rota_cancelled = session.scalars(select(PlannedVisit).where(
        PlannedVisit.ref == "V-CANC-ROTA")).one()
    rota_cancelled.cancel_reason = "client_request"
    steps = [
        Step(datetime(2026, 10, 24, 23, 31, tzinfo=UTC), "EVE", "NIGHT", LogKind.IN),
        Step(datetime(2026, 10, 25, 0, 2, tzinfo=UTC), "EVE", "NIGHT", LogKind.OUT),
        Step(at(8, 45), "CAT", "TC", LogKind.IN), Step(at(9, 15), "CAT", "TC", LogKind.OUT),
        Step(at(10), "DAN", "MERGE", LogKind.IN), Step(at(11, 40), "DAN", "MERGE", LogKind.OUT),
        Step(at(12, 2), "AMY", "DOUBLE", LogKind.IN), Step(at(12, 40), "AMY", "DOUBLE",
                                                            LogKind.OUT),
        Step(at(15, 5), "BEN", "NEXT", LogKind.IN), Step(at(15, 10), "EVE", "NEXT", LogKind.IN),
        Step(at(15, 35), "BEN", "NEXT", LogKind.OUT),
        Step(at(15, 45), "EVE", "NEXT", LogKind.OUT),
        Step(at(16, 40), "CAT", "LATE", LogKind.IN), Step(at(17, 10), "CAT", "LATE",
                                                          LogKind.OUT),
    ]
    ids = {"adults": {k: v.id for k, v in adults.items()},
           "carers": {k: v.id for k, v in carers.items()}}
    session.info["ids"] = ids
    return steps


def _play(database: Database, escalation: Escalation, steps: list[Step], ids: dict[str, Any],
          until: datetime) -> None:
    """Fake time to `until`: each log event at its moment, a tick every five minutes."""
    while escalation.clock.now() < until:
        now = min(escalation.clock.now() + timedelta(minutes=5), until)
        with database.unit_of_work() as session:
            for step in [s for s in steps if s.at <= now]:
                log(session, ids["carers"][step.carer], ids["adults"][step.adult], step.at,
                    kind=step.kind)
                steps.remove(step)
        escalation.clock.set(now)
        escalation.tick()


# The alert each office status raises for a planned visit (none for the others).
ALERT_OF_STATUS = {"late_start": AlertKind.LATE_START, "missed": AlertKind.MISSED_VISIT,
                   "short_of_carer": AlertKind.SHORT_OF_CARER}
WORD_OF_STATUS = {"late_start": "Late", "missed": "Missed", "short_of_carer": "Short of a carer",
                  "scheduled": "Due", "in_progress": "In progress", "completed": "Completed",
                  "incomplete": "No log-out", "cancelled": "Cancelled"}


def _readers(database: Database, settings: Settings, client: FlaskClient, now: datetime
             ) -> dict[str, dict[str, Any]]:
    """What each reader says of each planned visit at `now`."""
    api = client.get(f"/api/v1/visits?date={DAY.isoformat()}",
                     headers={"Authorization": f"Bearer {TOKEN}"})
    assert api.status_code == 200
    by_api = {v["ref"]: v for v in api.get_json()["visits"] if v["ref"]}
    with database.unit_of_work() as session:
        board = build_board(session, DAY, settings, now, EscalationAlertSource(settings))
        report = build_kpi_report(session, DAY, DAY, settings, now)
        alerts = list(session.scalars(select(Alert).where(
            Alert.state.in_([AlertState.OPEN, AlertState.ACKNOWLEDGED]))))
        refs = {v.id: v.ref for v in session.scalars(select(PlannedVisit))}
    open_alerts: dict[str, set[AlertKind]] = {}
    for alert in alerts:
        if alert.planned_visit_id is not None:
            open_alerts.setdefault(refs[alert.planned_visit_id], set()).add(alert.kind)
    kpi = {line.ref: line for line in report.visits}
    rows = {row.summary.ref: row for row in board.rows if row.summary.ref}
    return {"api": by_api, "board": rows, "kpi": kpi, "alerts": open_alerts}


def _assert_one_verdict(seen: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str, str]]:
    """Every reader agrees on every visit; returns (status, council, reason) per visit."""
    verdicts: dict[str, tuple[str, str, str]] = {}
    assert set(seen["api"]) == set(seen["board"]) == set(seen["kpi"])
    for ref, api in seen["api"].items():
        row, line = seen["board"][ref], seen["kpi"][ref]
        status, council = api["outcome"], api["council_verdict"]["timeliness"]
        reason = api["reason_code"]["status"]
        # The board: the office's status in its word, the council's beside it where they differ.
        assert row.status_word == WORD_OF_STATUS[status], ref
        assert row.summary.council_timeliness == council, ref
        assert (row.summary.council_note != "") == api["council_verdict"]["differs"], ref
        assert (row.reason is not None) == api["reason_code"]["needed"], ref
        # The KPI report: the council's verdict and the reason code, as the API gives them.
        assert line.timeliness.value == council, ref
        assert line.reason_status.value == reason, ref
        assert line.office_status == status, ref
        assert line.council_differs == api["council_verdict"]["differs"], ref
        # The alert rules: an unsettled alert of the status's kind exactly when the board
        # shows that status (a red client's alert when the board turns red, not later).
        expected = ALERT_OF_STATUS.get(status)
        raised = seen["alerts"].get(ref, set()) & set(ALERT_OF_STATUS.values())
        if expected is not None and not (status == "missed" and api["actual_start"]):
            assert expected in raised, (ref, status, raised)
        if status not in ALERT_OF_STATUS:
            assert not raised & {AlertKind.LATE_START, AlertKind.MISSED_VISIT}, (ref, raised)
        verdicts[ref] = (status, council, reason)
    return verdicts


def test_the_board_the_api_the_alerts_and_the_kpi_report_give_each_visit_one_verdict(
        database: Database, settings: Settings, clock: FixedClock, client: FlaskClient,
        api_token: object) -> None:  # noqa: F811 - the fixture imported above
    clock.set(datetime(2026, 10, 24, 23, 0, tzinfo=UTC))
    with database.unit_of_work() as session:
        make_ladder(session, clock.now(), on_call_hours=30)
        steps = _arrange(session)
        ids = session.info["ids"]
    escalation = Escalation(database, settings, clock)
    escalation.tick()

    checks: list[tuple[datetime, Callable[[dict[str, tuple[str, str, str]]], None]]] = []

    def at_9_20(v: dict[str, tuple[str, str, str]]) -> None:
        # A red client is late at 15 minutes, for the board and the alert alike; green is not.
        assert v["V-RED"][0] == "late_start" and v["V-GREEN"][0] == "scheduled"
        assert v["V-TC"] == ("completed", "late", "not_needed")  # 45 min late, time-critical
        assert v["V-NIGHT"] == ("completed", "on_time", "not_needed")

    def at_10_05(v: dict[str, tuple[str, str, str]]) -> None:
        # Missed for the office (and alerted) at an hour; the council's window is still open,
        # and the office can give the reason now.
        assert v["V-RED"] == ("missed", "pending", "outstanding")
        assert v["V-GREEN"] == ("late_start", "pending", "not_needed")

    def at_23_30(v: dict[str, tuple[str, str, str]]) -> None:
        assert v["V-RED"] == ("missed", "missed", "outstanding")
        assert v["V-GREEN"] == ("missed", "missed", "outstanding")
        assert v["V-MERGE-2"][1:] == ("missed", "outstanding")
        assert v["V-DOUBLE"][:2] == ("short_of_carer", "short_of_carer")
        assert v["V-CANC-ROTA"] == ("cancelled", "cancelled", "on_time")
        assert v["V-CANC-NONE"] == ("cancelled", "cancelled", "outstanding")
        assert v["V-NEXT-1"] == ("completed", "missed", "outstanding")
        assert v["V-LATE"] == ("completed", "late", "not_needed")

    checks = [(at(9, 20), at_9_20), (at(10, 5), at_10_05), (at(23, 30), at_23_30)]
    for moment, check in checks:
        _play(database, escalation, steps, ids, moment)
        check(_assert_one_verdict(_readers(database, settings, client, moment)))
