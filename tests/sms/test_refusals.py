"""Errors a carer can act on: every refusal says what was wrong and what to do, and is kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from ivr_gateway.api.models import ApiToken
from ivr_gateway.clock import FixedClock
from ivr_gateway.hashing import hash_api_token
from ivr_gateway.models import Adult, CareWorker, LogEvent
from ivr_gateway.sms.codes import CLIENT_FAILURE_LIMIT, SENDER_FAILURE_LIMIT, damm_digit
from ivr_gateway.sms.devices import PrintedSheet
from ivr_gateway.sms.models import InboundText, TextStatus
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import count, rows
from tests.sms.texting import add_sheet, add_token, code_at, text
from tests.twilio_client import TwilioClient

AMY = "+447911123450"
Joan = tuple[Adult, CareWorker, PrintedSheet]
NINE = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)


@pytest.fixture
def joan(session: Session, clock: FixedClock) -> tuple[Adult, CareWorker, PrintedSheet]:
    """Joan with a token and a sheet, Amy due at 09:00, the clock at 09:01."""
    adult = make_adult(session, given_name="Joan", family_name="Smith", landlines=())
    amy = make_care_worker(session, mobiles=(AMY,))
    make_planned_visit(session, adult, [amy], start=NINE, minutes=30)
    add_token(session, adult)
    sheet = add_sheet(session, adult, NINE - timedelta(days=1))
    session.commit()
    clock.set(NINE + timedelta(minutes=1))
    return adult, amy, sheet


def _last(session: Session) -> InboundText:
    return rows(session, InboundText)[-1]


def test_unregistered_mobile_is_told_to_call_the_office_and_the_office_sees_it(
        twilio: TwilioClient, session: Session, joan: Joan) -> None:
    reply = text(twilio, "+447700900123", "IN 123456")
    assert reply.text == ("This mobile is not registered to log visits. Please call the "
                          "office; we have told them about this text.")
    stored = _last(session)
    assert (stored.status, stored.needs_office, stored.body) == (
        TextStatus.UNREGISTERED, True, "IN ******")  # the digits are not kept in clear
    assert count(session, LogEvent) == 0


def test_unknown_code(twilio: TwilioClient, session: Session, clock: FixedClock,
                      joan: Joan) -> None:
    current = code_at(clock.now())
    wrong = "".join(str((int(d) + 5) % 10) for d in current)
    reply = text(twilio, AMY, f"IN {wrong}")
    assert reply.text.startswith("Code not recognised for your visit now. Check the code")
    assert _last(session).status == TextStatus.UNKNOWN_CODE and count(session, LogEvent) == 0


def test_token_code_one_digit_off_says_check_the_code(
        twilio: TwilioClient, session: Session, clock: FixedClock, joan: Joan) -> None:
    current = code_at(clock.now())
    typo = current[:-1] + str((int(current[-1]) + 1) % 10)
    reply = text(twilio, AMY, f"IN {typo}")
    assert reply.text == "That code looks mistyped. Check the code and text it again."
    assert _last(session).status == TextStatus.CHECK_CODE


def test_sheet_code_with_a_wrong_check_digit_says_check_the_code(
        twilio: TwilioClient, session: Session, joan: Joan) -> None:
    code = joan[2].codes[0]
    typo = code[:3] + str((int(code[3]) + 1) % 10) + code[4:]
    assert text(twilio, AMY, f"IN {typo}").text.startswith("That code looks mistyped.")


def test_too_few_digits_says_check_the_code(twilio: TwilioClient, joan: Joan) -> None:
    assert text(twilio, AMY, "IN 1234").text.startswith("That code looks mistyped.")


def test_code_already_used(twilio: TwilioClient, session: Session, clock: FixedClock,
                           joan: Joan) -> None:
    code = code_at(clock.now())
    text(twilio, AMY, f"IN {code}")
    clock.advance(seconds=20)
    reply = text(twilio, AMY, f"OUT {code}")
    assert reply.text.startswith("That code has been used already.")
    assert _last(session).status == TextStatus.USED_CODE and count(session, LogEvent) == 1


def test_sheet_code_already_used(twilio: TwilioClient, session: Session,
                                 clock: FixedClock, joan: Joan) -> None:
    code = joan[2].codes[0]
    text(twilio, AMY, f"IN {code}")
    clock.advance(minutes=30)
    assert text(twilio, AMY, f"OUT {code}").text.startswith("That code has been used already.")


def test_sheet_code_of_another_client_names_that_client_by_initials(
        twilio: TwilioClient, session: Session, joan: Joan) -> None:
    mary = make_adult(session, given_name="Mary", family_name="Brown", landlines=())
    marys = add_sheet(session, mary, NINE)
    session.commit()
    reply = text(twilio, AMY, f"IN {marys.codes[0]}")
    assert reply.text == ("That code is for M.B., not a visit of yours now. Check the code or "
                          "call the office.")
    stored = _last(session)
    assert (stored.status, stored.needs_office) == (TextStatus.OTHER_CLIENT, True)
    assert count(session, LogEvent) == 0


def test_code_of_a_retired_sheet(twilio: TwilioClient, session: Session, joan: Joan
                                 ) -> None:
    old = joan[2]
    add_sheet(session, joan[0], NINE)  # the new sheet retires the old one
    session.commit()
    reply = text(twilio, AMY, f"IN {old.codes[0]}")
    assert reply.text == "That code sheet has been replaced. Use a code from the new sheet for J.S."


def test_sheet_codes_are_used_in_order(twilio: TwilioClient, joan: Joan
                                       ) -> None:
    far = joan[2].codes[15]  # beyond the first 10 unused codes
    assert text(twilio, AMY, f"IN {far}").text == (
        "Please use the first code on the sheet that is not crossed out.")


def test_token_code_too_old(twilio: TwilioClient, session: Session, clock: FixedClock,
                            joan: Joan) -> None:
    three_days_ago = clock.now() - timedelta(days=3)
    reply = text(twilio, AMY, f"IN {code_at(three_days_ago)}")
    assert reply.text == "That code is too old to log a visit. Please call the office."
    assert _last(session).status == TextStatus.TOO_OLD


def test_text_with_no_code(twilio: TwilioClient, session: Session, joan: Joan) -> None:
    for body in ("IN", "out", "", "hello"):
        assert text(twilio, AMY, body).text == (
            "Please text IN or OUT and the code, e.g. IN 123456. Text HELP for help.")
    assert {t.status for t in rows(session, InboundText)} == {TextStatus.NO_CODE}


def test_no_visit_near_now(twilio: TwilioClient, session: Session, clock: FixedClock,
                           joan: Joan) -> None:
    clock.set(NINE + timedelta(hours=8))
    reply = text(twilio, AMY, "IN 123456")
    assert reply.text.startswith("No visit of yours is planned now")
    assert _last(session).needs_office


def test_locked_after_repeated_wrong_codes_then_released(
        twilio: TwilioClient, session: Session, clock: FixedClock, joan: Joan) -> None:
    for _ in range(SENDER_FAILURE_LIMIT):
        text(twilio, AMY, "IN 000000")
        clock.advance(seconds=30)
    # Even the right code is not checked while locked: guessing stops.
    reply = text(twilio, AMY, f"IN {code_at(clock.now())}")
    assert reply.text == ("Too many wrong codes. Codes are paused until 09:16. Call the office "
                          "to log this visit.")
    assert _last(session).status == TextStatus.LOCKED and count(session, LogEvent) == 0
    clock.set(NINE + timedelta(minutes=17))
    assert text(twilio, AMY, f"IN {code_at(clock.now())}").text.startswith("Logged in 09:17")


def test_a_clients_codes_pause_after_wrong_codes_from_many_senders(
        twilio: TwilioClient, session: Session, clock: FixedClock, joan: Joan
) -> None:
    adult = joan[0]
    senders = []
    for i in range(CLIENT_FAILURE_LIMIT):
        number = f"+4479111230{i:02d}"
        carer = make_care_worker(session, staff_number=f"9{i:03d}", mobiles=(number,))
        make_planned_visit(session, adult, [carer], start=NINE, minutes=30)
        senders.append(number)
    session.commit()
    for number in senders:
        text(twilio, number, "IN 000000")
    reply = text(twilio, AMY, f"IN {code_at(clock.now())}")
    assert reply.text.startswith("Too many wrong codes. Codes are paused until")
    assert count(session, LogEvent) == 0


def test_help_and_ack(twilio: TwilioClient, session: Session, joan: Joan) -> None:
    assert text(twilio, AMY, "help").text.startswith("To log in, text IN and the code")
    assert text(twilio, AMY, "ACK 12").text == "No alerts to acknowledge."
    assert [t.status for t in rows(session, InboundText)] == [TextStatus.HELP, TextStatus.ACK]


def test_stop_and_start_are_recorded_without_a_reply_and_listed_for_the_office(
        twilio: TwilioClient, session: Session, joan: Joan, client: FlaskClient) -> None:
    session.add(ApiToken(name="office", token_hash=hash_api_token("ivr_t"), created_at=NINE))
    session.commit()
    headers = {"Authorization": "Bearer ivr_t"}
    assert text(twilio, AMY, "STOP").messages == []  # Twilio answers STOP itself
    opt_outs = client.get("/api/v1/sms-opt-outs", headers=headers).get_json()["opt_outs"]
    assert [(o["number"], o["care_worker_ref"]) for o in opt_outs] == [(AMY, joan[1].ref)]
    assert text(twilio, AMY, "start").messages == []
    assert client.get("/api/v1/sms-opt-outs", headers=headers).get_json()["opt_outs"] == []
    assert [t.status for t in rows(session, InboundText)] == [TextStatus.OPTED_OUT,
                                                              TextStatus.OPTED_IN]


def test_every_text_is_kept_and_the_office_lists_what_needs_it(
        twilio: TwilioClient, session: Session, clock: FixedClock, joan: Joan,
        client: FlaskClient) -> None:
    session.add(ApiToken(name="office", token_hash=hash_api_token("ivr_t"), created_at=NINE))
    session.commit()
    text(twilio, AMY, f"IN {code_at(clock.now())}")
    text(twilio, "+447700900123", "in 555555")
    text(twilio, AMY, "hello")
    headers = {"Authorization": "Bearer ivr_t"}
    every = client.get("/api/v1/texts?date=2026-01-13", headers=headers).get_json()["texts"]
    assert [t["status"] for t in every] == ["logged", "unregistered", "no_code"]
    office = client.get("/api/v1/texts?date=2026-01-13&needs_office=true",
                        headers=headers).get_json()["texts"]
    assert [(t["from_number"], t["body"], t["care_worker_ref"]) for t in office] == [
        ("+447700900123", "in ******", None)]  # an unregistered sender's digits masked
    bad = client.get("/api/v1/texts?date=13/01/2026", headers=headers)
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.get_json()["error"]["message"]


def test_damm_digit_is_what_sheets_print() -> None:
    assert damm_digit("572") == "4"  # Damm's own example
