"""TOTP against RFC 6238's vectors; secrets encrypted at rest; the false-acceptance bound."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.sms.codes import (
    FALSE_ACCEPTANCE_BOUND,
    MAX_DRIFT_STEPS,
    SHEET_CODE_RANDOM_DIGITS,
    SHEET_WINDOW,
    TOKEN_DIGITS,
    TOKEN_WINDOW_STEPS,
    GuessBudget,
    SecretKeyMismatch,
    decrypt_secret,
    encrypt_secret,
    guess_cost,
    is_sheet_code_shape,
    max_comparisons,
    near_miss,
    new_sheet_code,
    normalise_secret,
    time_step,
    totp_at_step,
)
from ivr_gateway.sms.verification import SHEET_CODE_COST, verify_code
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.sms.texting import add_sheet, add_token

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sms.md"

# RFC 6238 appendix B: SHA-1, seed "12345678901234567890", 8 digits, 30-second steps.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


@pytest.mark.parametrize(("unix_time", "code"), [
    (59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
    (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130"),
])
def test_rfc_6238_test_vectors(unix_time: int, code: str) -> None:
    at = datetime.fromtimestamp(unix_time, tz=UTC)
    assert totp_at_step(RFC_SECRET, time_step(at, 30), 8) == code


def test_secret_is_encrypted_at_rest_and_needs_the_same_key() -> None:
    stored = encrypt_secret(RFC_SECRET, "key one")
    assert RFC_SECRET not in stored
    assert decrypt_secret(stored, "key one") == RFC_SECRET
    with pytest.raises(SecretKeyMismatch, match="TOKEN_SECRET_KEY"):
        decrypt_secret(stored, "key two")


@pytest.mark.parametrize(("raw", "problem"), [
    ("", "empty"), ("not base32!", "not base32"), ("ABCDEFG", "too short")])
def test_a_bad_seed_is_refused_with_the_reason(raw: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        normalise_secret(raw)


def test_vendor_seed_spacing_and_case_are_forgiven() -> None:
    assert normalise_secret("jbsw y3dp ehpk 3pxp") == "JBSWY3DPEHPK3PXP"


def test_sheet_codes_carry_a_check_digit() -> None:
    for _ in range(200):
        code = new_sheet_code()
        assert len(code) == SHEET_CODE_RANDOM_DIGITS + 1 and is_sheet_code_shape(code)


@pytest.mark.parametrize(("typed", "real", "near"), [
    ("123457", "123456", True), ("213456", "123456", True), ("123465", "123456", True),
    ("123456", "123456", False), ("654321", "123456", False), ("12345", "123456", False),
])
def test_near_miss_is_one_digit_wrong_or_one_swap(typed: str, real: str, near: bool) -> None:
    assert near_miss(typed, real) is near


# --- the false-acceptance bound: docs/sms.md has the arithmetic, these hold the parameters ---


def test_the_bound_is_at_most_one_in_100000_per_attempt() -> None:
    assert FALSE_ACCEPTANCE_BOUND <= 1e-5


@pytest.mark.parametrize("digits", TOKEN_DIGITS)
def test_a_token_check_now_fits_the_bound_for_every_supported_token(digits: int) -> None:
    window = 2 * TOKEN_WINDOW_STEPS + 1
    assert window * guess_cost(digits) <= FALSE_ACCEPTANCE_BOUND
    assert max_comparisons(guess_cost(digits)) >= window


def test_a_sheet_check_fits_the_bound() -> None:
    # A guesser knows the check-digit rule, so only the random digits count.
    assert guess_cost(SHEET_CODE_RANDOM_DIGITS) == SHEET_CODE_COST
    assert SHEET_WINDOW * SHEET_CODE_COST <= FALSE_ACCEPTANCE_BOUND


def test_guess_budget_is_never_overdrawn() -> None:
    budget = GuessBudget()
    taken = sum(budget.take(guess_cost(6)) for _ in range(50))
    assert taken == 10 and budget.spent <= FALSE_ACCEPTANCE_BOUND * (1 + 1e-9)
    assert not budget.take(guess_cost(8))


def test_drift_is_learnt_only_within_bounds() -> None:
    assert 0 < MAX_DRIFT_STEPS <= 20


def test_the_docs_state_the_parameters_the_code_uses() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert "1 in 100,000" in text
    assert f"±{TOKEN_WINDOW_STEPS} step" in text
    assert f"first {SHEET_WINDOW} unused codes" in text
    assert f"{SHEET_CODE_RANDOM_DIGITS} random digits" in text


def test_no_rota_makes_one_text_compare_more_than_the_bound_allows(session: Session) -> None:
    # A carer with visits at many homes, each with 6-digit and 8-digit tokens and a sheet, and
    # many past visits whose late codes could be searched: the check still stops at the bound.
    now = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
    carer = make_care_worker(session)
    for i in range(8):
        adult = make_adult(session, landlines=())
        add_token(session, adult, serial=f"S6-{i}", digits=6)
        add_token(session, adult, serial=f"S8-{i}", digits=8)
        add_sheet(session, adult, now)
        for hours in range(0, 48, 6):
            make_planned_visit(session, adult, [carer], start=now - timedelta(hours=hours),
                               minutes=60)
    session.commit()
    settings = Settings()
    for code in ("000000", "00000000", new_sheet_code()):
        _result, attempt = verify_code(session, code, carer.id, now, settings)
        assert attempt.budget.spent <= FALSE_ACCEPTANCE_BOUND * (1 + 1e-9)
        # There was more to compare than the bound allows: the budget, not the rota, stopped it.
        assert attempt.budget.spent >= 0.99 * FALSE_ACCEPTANCE_BOUND, attempt
        session.rollback()
    _result, attempt = verify_code(session, "000000", carer.id, now, settings)
    assert attempt.comparisons == max_comparisons(guess_cost(6)) == 10
