"""Registering tokens (API, CLI, vendor seed files), `codes now`, and printing code sheets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy.orm import Session

from ivr_gateway.cli import main
from ivr_gateway.clock import FixedClock
from ivr_gateway.commandline import CliContext
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.sms.codes import decrypt_secret, time_step, totp_at_step
from ivr_gateway.sms.devices import PrintedSheet
from ivr_gateway.sms.models import CodeSheet, VisitCodeToken
from ivr_gateway.sms.sheets import sheet_html, sheet_pdf
from tests.api.conftest import Api, api, api_token  # noqa: F401 - fixtures
from tests.factories import make_adult
from tests.ivr.calls import rows
from tests.sms.texting import SECRET

SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _run(database: Database, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": database.url})


def test_token_put_registers_it_encrypted_and_get_never_shows_the_secret(
        api: Api, session: Session) -> None:  # noqa: F811
    make_adult(session, ref="A1")
    session.commit()
    created = api.put("/visit-code-tokens/VC-1", {"adult_ref": "A1", "secret": "jbsw y3dp ehpk "
                                                  "3pxp jbsw y3dp ehpk 3pxp", "digits": 6})
    assert created.status_code == 201
    assert created.get_json()["token"]["adult_ref"] == "A1"
    stored = rows(session, VisitCodeToken)[0]
    assert SEED not in stored.secret_encrypted
    assert decrypt_secret(stored.secret_encrypted, Settings().token_secret_key) == SEED
    got = api.get("/visit-code-tokens/VC-1").get_json()
    assert "secret" not in got and got["digits"] == 6 and got["step"] == 30
    again = api.put("/visit-code-tokens/VC-1", {"adult_ref": "A1"})
    assert again.get_json()["change"] == "unchanged"


def test_token_put_errors_name_the_field(api: Api, session: Session) -> None:  # noqa: F811
    make_adult(session, ref="A1")
    session.commit()
    no_secret = api.put("/visit-code-tokens/VC-2", {"adult_ref": "A1"})
    assert no_secret.status_code == 422
    assert no_secret.get_json()["error"]["fields"][0]["field"] == "secret"
    bad_digits = api.put("/visit-code-tokens/VC-2", {"secret": SEED, "digits": 7})
    assert bad_digits.get_json()["error"]["fields"][0]["field"] == "digits"
    unknown = api.put("/visit-code-tokens/VC-2", {"secret": SEED, "adult_ref": "NOPE"})
    assert "no client with reference 'NOPE'" in unknown.get_json()["error"]["message"]
    assert api.get("/visit-code-tokens/VC-9").status_code == 404
    assert api.get("/texts?date=2026-01-13").status_code == 200
    assert api.get("/sms-opt-outs").status_code == 200
    assert api.get("/texts?date=yesterday").status_code == 422
    assert api.get("/sms-opt-outs", token="wrong").status_code == 401


def test_vendor_seed_file_imports_all_or_nothing(database: Database, tmp_path: Path) -> None:
    good = tmp_path / "seeds.csv"
    good.write_text(f"serial,secret\nVC-1,{SEED}\nVC-2,{SEED[:16]}\n", encoding="utf-8")
    result = _run(database, "codes", "token", "import", str(good))
    assert result.exit_code == 0, result.output
    assert "2 token(s) registered" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text(f"VC-3,{SEED}\nVC-4,not-base32!\n", encoding="utf-8")
    result = _run(database, "codes", "token", "import", str(bad))
    assert result.exit_code != 0
    assert "line 2 (VC-4)" in result.output and "nothing was imported" in result.output
    with database.unit_of_work() as session:
        assert sorted(t.serial for t in session.query(VisitCodeToken)) == ["VC-1", "VC-2"]


def test_codes_now_prints_the_code_the_token_shows(database: Database, session: Session
                                                   ) -> None:
    adult = make_adult(session, ref="A1")
    session.commit()
    result = _run(database, "codes", "token", "add", "VC-7", "--adult", "A1", "--secret", SECRET)
    assert result.exit_code == 0, result.output
    before = datetime.now(UTC)
    result = _run(database, "codes", "now", "VC-7")
    after = datetime.now(UTC)
    assert result.exit_code == 0, result.output
    code = result.stdout.strip().splitlines()[0]
    assert code in {totp_at_step(SECRET, time_step(t, 30), 6) for t in (before, after)}
    assert "J.S." in result.output
    del adult
    missing = _run(database, "codes", "now", "VC-404")
    assert missing.exit_code != 0 and "No visit-code token with serial 'VC-404'" in missing.output


def test_codes_now_on_a_fixed_clock_prints_that_instants_code_and_seconds_left(
        database: Database, session: Session) -> None:
    make_adult(session, ref="A1")
    session.commit()
    assert _run(database, "codes", "token", "add", "VC-7", "--adult", "A1", "--secret",
                SECRET).exit_code == 0
    at = datetime(2026, 1, 13, 9, 0, 12, tzinfo=UTC)  # 12 s into a 30-second step
    context = CliContext(Settings(database_url=database.url), clock=FixedClock(at))
    result = CliRunner().invoke(main, ["codes", "now", "VC-7"], obj=context)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == totp_at_step(SECRET, time_step(at, 30), 6)
    assert "valid for 18 more seconds" in result.output
    later = CliContext(Settings(database_url=database.url), clock=FixedClock(at.replace(second=41)))
    result = CliRunner().invoke(main, ["codes", "now", "VC-7"], obj=later)
    assert result.stdout.splitlines()[0] == totp_at_step(SECRET, time_step(at, 30) + 1, 6)
    assert "valid for 19 more seconds" in result.output


def test_codes_sheet_prints_html_and_pdf_and_retires_the_old_sheet(
        database: Database, session: Session, tmp_path: Path) -> None:
    make_adult(session, ref="A1", given_name="Mary", family_name="Brown")
    session.commit()
    first = _run(database, "codes", "sheet", "A1", "--count", "12", "--out", str(tmp_path))
    assert first.exit_code == 0, first.output
    html_files = list(tmp_path.glob("*.html"))
    pdf_files = list(tmp_path.glob("*.pdf"))
    assert len(html_files) == len(pdf_files) == 1
    assert pdf_files[0].read_bytes().startswith(b"%PDF")
    page = html_files[0].read_text(encoding="utf-8")
    assert "Visit codes for M.B." in page and "Mary" not in page
    second = _run(database, "codes", "sheet", "A1", "--out", str(tmp_path))
    assert "Retired sheet(s): 1001" in second.output
    sheets = rows(session, CodeSheet)
    assert [s.retired_at is not None for s in sheets] == [True, False]
    assert sheets[0].retired_reason == "replaced by sheet 1002"


def test_sheet_shows_each_code_with_its_number() -> None:
    sheet = PrintedSheet(1001, "A1", "J.S.", ["12345674", "76543213"],
                         datetime(2026, 1, 13, tzinfo=UTC), [])
    page = sheet_html(sheet, Settings(), "+441134960000")
    assert "1234 5674" in page and "7654 3213" in page and "sheet 1001" in page
    assert sheet_pdf(sheet, Settings(), "+441134960000").startswith(b"%PDF")


HOSTILE = {"<script>alert(1)</script>": "&lt;script&gt;alert(1)&lt;/script&gt;",
           '"><img src=x onerror=1>': "&#34;&gt;&lt;img src=x onerror=1&gt;"}


def test_the_sheet_escapes_whatever_it_prints() -> None:
    for text, escaped in HOSTILE.items():
        sheet = PrintedSheet(1001, "A1", text, ["12345674"], datetime(2026, 1, 13, tzinfo=UTC),
                             [])
        page = sheet_html(sheet, Settings(), text)
        assert "<script" not in page and "<img" not in page
        assert f"Visit codes for {escaped} - sheet 1001" in page
        assert f"Text codes to {escaped}." in page


def test_a_sheet_for_a_client_with_markup_in_their_name_prints_it_as_text(
        database: Database, session: Session, tmp_path: Path) -> None:
    script, img = HOSTILE
    make_adult(session, ref="A1", given_name=script, family_name=img)
    session.commit()
    result = _run(database, "codes", "sheet", "A1", "--count", "3", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    page = next(tmp_path.glob("*.html")).read_text(encoding="utf-8")
    assert "Visit codes for &lt;.&#34;." in page  # initials only, escaped
    assert "<script" not in page and "<img" not in page
