"""Webhook input that cannot be stored as it came still gets an answer, and is kept as evidence.

On PostgreSQL a NUL character or a 10,000-character SID makes the normal path fail; the apology
is given and the step or text is stored escaped and cut, with a note (telephony/evidence.py).
SQLite stores such values as they are, so there the normal path answers.
"""

from __future__ import annotations

from sqlalchemy import select

from ivr_gateway.db import Database
from ivr_gateway.ivr.models import CallStep
from ivr_gateway.sms.models import InboundText, TextStatus
from ivr_gateway.telephony.evidence import storable, storable_form
from tests.twilio_client import TwilioClient

LONG_SID = "CA" + "7" * 9998
CALL = {"From": "+441134960001", "To": "+441134960000", "CallStatus": "ringing"}


def _on_postgresql(database: Database) -> bool:
    return database.url.startswith("postgresql")


def test_a_10000_character_callsid_is_apologised_to_and_kept_cut_with_a_note(
        twilio: TwilioClient, database: Database) -> None:
    answer = twilio.post_twiml("/twilio/voice", {**CALL, "CallSid": LONG_SID})
    with database.unit_of_work() as session:
        steps = session.scalars(select(CallStep)).all()
        assert len(steps) == 1 and steps[0].call_sid.startswith(LONG_SID[:64])
        if _on_postgresql(database):
            assert answer.said() == ["Sorry, something went wrong. Please ring the office."]
            assert steps[0].state == "fault" and steps[0].call_sid == LONG_SID[:64]
            assert "CallSid: 10000 characters, cut to the first 64" in steps[0].raw["_stored_as"]


def test_a_nul_in_a_keyed_field_is_apologised_to_and_kept_escaped(
        twilio: TwilioClient, database: Database) -> None:
    twilio.post_twiml("/twilio/voice", {**CALL, "CallSid": "CA1"})
    answer = twilio.post_twiml("/twilio/voice/step/1", {**CALL, "CallSid": "CA1",
                                                         "Digits": "12\x0034",
                                                         "CallerName": "J\x00S"})
    assert answer.status_code == 200
    with database.unit_of_work() as session:
        step = session.scalars(select(CallStep).where(CallStep.seq == 1)).one()
        if _on_postgresql(database):
            assert answer.said() == ["Sorry, something went wrong. Please ring the office."]
            assert step.state == "fault" and step.raw["CallerName"] == "J\\u0000S"
            assert "NUL characters written as" in step.raw["_stored_as"]


def test_a_text_with_a_nul_and_a_huge_messagesid_is_kept(twilio: TwilioClient,
                                                         database: Database) -> None:
    sid = "SM" + "5" * 9998
    response = twilio.post("/twilio/sms", {"MessageSid": sid, "From": "+447700900123",
                                           "To": "+441134960000", "Body": "IN 12\x0034"})
    assert response.status_code == 200 and response.mimetype == "text/xml"
    with database.unit_of_work() as session:
        text = session.scalars(select(InboundText)).one()
        assert text.message_sid.startswith(sid[:64])
        if _on_postgresql(database):
            assert text.status == TextStatus.FAULT and text.body == "IN 12\\u000034"
            assert "MessageSid: 10000 characters" in text.raw["_stored_as"]


def test_a_notification_id_beyond_any_row_is_acknowledged(twilio: TwilioClient) -> None:
    response = twilio.post("/twilio/status?notification=99999999999999999999",
                           {"MessageSid": "SM1", "MessageStatus": "delivered"})
    assert response.status_code == 204
    odd_call = twilio.post("/twilio/status", {"CallSid": "CA\x00" + "9" * 100,
                                              "CallStatus": "completed"})
    assert odd_call.status_code == 204


def test_storable_values_say_what_was_changed() -> None:
    assert storable("Body", "ok", 10).note == ""
    assert storable("Body", "a\x00b", 10).value == "a\\u0000b"
    raw = storable_form({"Digits": "1", "Body": "x" * 3000}, leave_out=frozenset({"Digits"}))
    assert len(raw["Body"]) == 2000 and "Digits" not in raw
    assert raw["_stored_as"] == "Body: 3000 characters, cut to the first 2000"
