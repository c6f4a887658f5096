"""Odd input to the dashboard gets a clear 4xx page, never a 500."""

from __future__ import annotations

import pytest

from ivr_gateway.office.models import OfficeUser
from tests.office.conftest import PASSWORD, Office

TOO_BIG = "99999999999999999999"


@pytest.mark.parametrize("path", [f"/office/on-call/contacts/{TOO_BIG}",
                                  "/office/on-call/contacts/2147483648",
                                  f"/office/log-events/{TOO_BIG}/move"])
def test_an_id_beyond_the_integer_range_is_the_dashboards_404(as_manager: Office,
                                                              path: str) -> None:
    response = as_manager.get(path)
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_a_nul_in_a_form_field_is_a_400_page(as_manager: Office) -> None:
    response = as_manager.post("/office/on-call/contacts", {"name": "Jo\x00", "mobile": ""})
    assert response.status_code == 400 and "NUL" in response.get_data(as_text=True)


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-02"])
def test_a_far_day_on_the_board_shows_today_and_on_the_kpi_page_is_refused(
        as_coordinator: Office, day: str) -> None:
    assert as_coordinator.get(f"/office/?date={day}").status_code == 200
    kpi = as_coordinator.get(f"/office/kpi?from={day}&to={day}")
    assert kpi.status_code < 500 and "2000-01-01" in kpi.get_data(as_text=True)
    assert as_coordinator.get(f"/office/kpi/visits.csv?from={day}&to={day}").status_code < 500


def test_a_crlf_in_next_is_ignored(office: Office, coordinator: OfficeUser) -> None:
    response = office.client.post("/office/login?next=/office/%0d%0aSet-Cookie:%20x=1", data={
        "username": "cora", "password": PASSWORD, "csrf_token": office.csrf()})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/office/")  # the board, not the header split
