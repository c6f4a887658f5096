"""/api/v1 alerts, office contacts and on-call periods (every exchange checked against OpenAPI)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from tests.api.conftest import Api
from tests.escalation import conftest as escalation_fixtures
from tests.escalation.conftest import COORDINATOR, TUESDAY_9AM, Escalation, make_ladder
from tests.factories import make_adult, make_care_worker, make_planned_visit

# The escalation tests' clock (a Tuesday morning) and ladder, for these tests too.
clock = escalation_fixtures.clock
escalation = escalation_fixtures.escalation


def test_contacts_and_on_call_periods_are_managed_through_the_api(api: Api) -> None:
    created = api.post("/office-contacts", {"name": "Sam Carter", "role": "coordinator",
                                            "mobile": "07911 123501"})
    assert created.status_code == 201
    contact = created.get_json()["contact"]
    assert contact["mobile"] == "+447911123501"
    assert api.post("/office-contacts", {"name": "Sam Again", "role": "coordinator",
                                         "mobile": "+447911123501"}).status_code == 409
    landline = api.post("/office-contacts", {"name": "Desk", "role": "manager",
                                             "mobile": "01134960001"})
    assert landline.status_code == 422
    assert "not a mobile" in landline.get_json()["error"]["message"]
    assert api.post("/office-contacts", {"name": "X", "role": "boss",
                                         "mobile": "07911123502"}).status_code == 422
    assert [c["name"] for c in api.get("/office-contacts").get_json()["contacts"]] == [
        "Sam Carter"]

    period = api.post("/on-call-periods", {"contact_id": contact["id"],
                                           "starts_at": "2026-01-13T18:00:00Z",
                                           "ends_at": "2026-01-14T08:00:00Z"})
    assert period.status_code == 201
    backwards = api.post("/on-call-periods", {"contact_id": contact["id"],
                                              "starts_at": "2026-01-14T08:00:00Z",
                                              "ends_at": "2026-01-13T18:00:00Z"})
    assert backwards.status_code == 422
    assert api.post("/on-call-periods", {"contact_id": 999, "starts_at": "2026-01-14T08:00:00Z",
                                         "ends_at": "2026-01-14T09:00:00Z"}).status_code == 404
    listed = api.get("/on-call-periods?from=2026-01-13T00:00:00Z&to=2026-01-15T00:00:00Z")
    assert [p["contact_name"] for p in listed.get_json()["on_call_periods"]] == ["Sam Carter"]
    period_id = period.get_json()["on_call_period"]["id"]
    assert api.call("DELETE", f"/on-call-periods/{period_id}").status_code == 200
    assert api.call("DELETE", f"/on-call-periods/{period_id}").status_code == 404
    assert api.get("/on-call-periods?from=yesterday").status_code == 422


def test_alerts_are_read_and_acknowledged_through_the_api(
        api: Api, session: Session, escalation: Escalation) -> None:
    make_ladder(session, TUESDAY_9AM)
    make_planned_visit(session, make_adult(session), [make_care_worker(session)],
                       start=TUESDAY_9AM)
    session.commit()
    escalation.tick()
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=31))
    [alert] = api.get("/alerts?state=open").get_json()["alerts"]
    assert alert["kind"] == "late_start" and alert["level"] == 1
    assert [(n["recipient"], n["channel"]) for n in alert["notifications"]] == [
        ("Sam Carter", "sms")]
    acked = api.post(f"/alerts/{alert['id']}/acknowledge", {"by": "Jo at the desk"})
    body = acked.get_json()
    assert acked.status_code == 200 and body["acknowledged"] is True
    assert body["alert"]["acknowledged_by"] == "Jo at the desk (api:rostering)"
    again = api.post(f"/alerts/{alert['id']}/acknowledge", {})
    assert again.get_json()["acknowledged"] is False
    assert api.get("/alerts?state=open").get_json()["alerts"] == []
    assert api.get(f"/alerts/{alert['id']}").get_json()["state"] == "acknowledged"
    assert api.get("/alerts/999").status_code == 404
    assert api.get("/alerts?state=closed").status_code == 422
    escalation.run_until(TUESDAY_9AM + timedelta(minutes=50))
    assert escalation.texts(COORDINATOR)[-1].startswith(f"EHM alert {alert['number']} "
                                                        "acknowledged by J.D.")
