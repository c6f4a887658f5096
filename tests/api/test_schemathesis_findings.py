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
