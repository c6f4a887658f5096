"""What schemathesis found in /api/v1, each kept as a plain test."""

from __future__ import annotations

from tests.api.conftest import Api


def test_an_on_call_contact_id_beyond_any_row_is_a_422_not_a_500(api: Api) -> None:
    response = api.post("/on-call-periods", {"contact_id": 2**80,
                                             "starts_at": "2026-01-13T08:00:00Z",
                                             "ends_at": "2026-01-13T18:00:00Z"})
    assert response.status_code == 422
    assert [f["field"] for f in response.get_json()["error"]["fields"]] == ["contact_id"]


def test_an_empty_alert_state_is_refused_not_read_as_all(api: Api) -> None:
    response = api.get("/alerts?state=")
    assert response.status_code == 422
    assert api.get("/alerts").status_code == 200


def test_an_empty_time_is_refused_not_read_as_now(api: Api) -> None:
    response = api.get("/on-call-periods?from=&to=")
    assert response.status_code == 422
    assert {f["field"] for f in response.get_json()["error"]["fields"]} == {"from"}


def test_needs_office_is_a_boolean_as_documented(api: Api) -> None:
    assert api.get("/texts?date=2026-01-13&needs_office=true").status_code == 200
    assert api.get("/texts?date=2026-01-13&needs_office=false").status_code == 200
    assert api.get("/texts?date=2026-01-13&needs_office=maybe").status_code == 422


def test_a_nul_in_any_query_is_a_documented_400(api: Api) -> None:
    # Api.call asserts the status is documented for the operation and the body its schema.
    assert api.get("/visits?date=2026-01-13%00").status_code == 400
    assert api.get("/alerts?state=open%00").status_code == 400
