"""The call webhooks: signed or refused, replays change nothing, silence, faults, status."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from ivr_gateway.app import create_app
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.ivr import actions
from ivr_gateway.ivr.actions import StepContext
from ivr_gateway.ivr.models import Call, CallStep
from ivr_gateway.models import ConcernRecording, LogEvent
from ivr_gateway.telephony.signature import sign
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import PlayedCall, count, new_call_sid, play, rows
from tests.twilio_client import BASE, TwilioClient

LANDLINE = "+441134960001"
NINE_AM = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)


def _rota(session: Session) -> None:
    adult = make_adult(session, landlines=(LANDLINE,))
    carer = make_care_worker(session, staff_number="1234", pin="5678")
    make_planned_visit(session, adult, [carer], start=NINE_AM)
    session.commit()


def _first_step(call_sid: str | None = None) -> dict[str, str]:
    return {"CallSid": call_sid or new_call_sid(), "AccountSid": "AC" + "0" * 32,
            "From": LANDLINE, "To": "+441134960000", "CallStatus": "ringing",
            "Direction": "inbound"}


def _nothing_stored(session: Session) -> None:
    assert count(session, Call) == 0
    assert count(session, CallStep) == 0
    assert count(session, LogEvent) == 0


# --- Signatures --------------------------------------------------------------------------------

def test_forged_signature_is_refused_and_nothing_stored(
    twilio: TwilioClient, session: Session
) -> None:
    _rota(session)
    forger = TwilioClient(twilio.client, "not-the-auth-token")
    response = forger.post("/twilio/voice", _first_step())
    assert response.status_code == 403
    assert "X-Twilio-Signature" in response.get_data(as_text=True)
    _nothing_stored(session)


def test_missing_signature_is_refused_and_nothing_stored(
    twilio: TwilioClient, session: Session
) -> None:
    _rota(session)
    response = twilio.client.post("/twilio/voice", data=_first_step())
    assert response.status_code == 403
    _nothing_stored(session)


def test_signature_for_another_url_is_refused_and_nothing_stored(
    twilio: TwilioClient, session: Session
) -> None:
    _rota(session)
    params = _first_step()
    other = sign(twilio.auth_token, BASE + "/twilio/voice/step/1", params)
    assert twilio.post("/twilio/voice", params, signature=other).status_code == 403
    _nothing_stored(session)


def test_form_changed_after_signing_is_refused(twilio: TwilioClient, session: Session) -> None:
    _rota(session)
    call = play(twilio, LANDLINE, "1234")
    steps_before = count(session, CallStep)
    params = call.params(Digits="0000")
    signature = sign(twilio.auth_token, BASE + "/twilio/voice/step/2", params)
    response = twilio.post("/twilio/voice/step/2", {**params, "Digits": "5678"},
                           signature=signature)
    assert response.status_code == 403
    assert count(session, CallStep) == steps_before
    assert count(session, LogEvent) == 0


def test_every_twilio_webhook_needs_a_signature(twilio: TwilioClient, session: Session) -> None:
    for path in ("/twilio/voice", "/twilio/voice/step/1", "/twilio/status"):
        assert twilio.client.post(path, data=_first_step()).status_code == 403, path
    _nothing_stored(session)


@pytest.fixture
def proxied(settings: Settings, database: Database, clock: FixedClock) -> Flask:
    """The app behind a proxy: Twilio calls https://ivr.example.org, the app sees localhost."""
    app = create_app(settings=settings.with_overrides(public_base_url="https://ivr.example.org"),
                     database=database, clock=clock)
    app.config["TESTING"] = True
    return app


def test_behind_a_proxy_the_signature_is_checked_against_public_base_url(
    proxied: Flask, settings: Settings, session: Session
) -> None:
    _rota(session)
    twilio = TwilioClient(proxied.test_client(), settings.twilio_auth_token)
    params = _first_step()
    as_twilio_signed = sign(settings.twilio_auth_token, "https://ivr.example.org/twilio/voice",
                            params)
    as_app_sees_it = sign(settings.twilio_auth_token, BASE + "/twilio/voice", params)
    assert twilio.post("/twilio/voice", params, signature=as_app_sees_it).status_code == 403
    assert count(session, CallStep) == 0
    response = twilio.post("/twilio/voice", params, signature=as_twilio_signed)
    assert response.status_code == 200
    assert 'action="https://ivr.example.org/twilio/voice/step/1"' in response.get_data(
        as_text=True)


# --- Replays and stray steps -------------------------------------------------------------------

def test_replayed_step_gets_the_same_answer_and_changes_nothing(
    twilio: TwilioClient, session: Session
) -> None:
    _rota(session)
    call = play(twilio, LANDLINE, "1234")
    assert call.last is not None and call.last.gather() is not None
    pin_url = call.last.gather().attrib["action"]  # type: ignore[union-attr]
    params = call.params(Digits="5678")
    first = twilio.post_twiml(pin_url, params)
    again = twilio.post_twiml(pin_url, params)
    assert first.response.get_data() == again.response.get_data()
    assert "Logged in at 9:00" in first.text()
    assert count(session, CallStep, CallStep.call_sid == call.call_sid, CallStep.seq == 2) == 1
    assert count(session, LogEvent) == 1


def test_replayed_first_webhook_creates_one_call(twilio: TwilioClient, session: Session) -> None:
    _rota(session)
    params = _first_step()
    first = twilio.post_twiml("/twilio/voice", params)
    again = twilio.post_twiml("/twilio/voice", params)
    assert first.response.get_data() == again.response.get_data()
    assert count(session, Call) == 1
    assert count(session, CallStep) == 1


def test_step_that_was_never_handed_out_ends_the_call_and_stores_nothing(
    twilio: TwilioClient, session: Session
) -> None:
    _rota(session)
    call = play(twilio, LANDLINE)
    stray = twilio.post_twiml("/twilio/voice/step/7", call.params(Digits="1234"))
    assert "Hangup" in stray.verbs()
    assert count(session, CallStep) == 1
    unknown = twilio.post_twiml("/twilio/voice/step/1", {**_first_step(), "Digits": "1234"})
    assert "Hangup" in unknown.verbs()
    assert count(session, Call) == 1 and count(session, CallStep) == 1


def test_step_without_call_sid_is_a_bad_request(twilio: TwilioClient, session: Session) -> None:
    assert twilio.post("/twilio/voice", {"From": LANDLINE}).status_code == 400
    _nothing_stored(session)


# --- Silence -----------------------------------------------------------------------------------

def test_gather_timing_out_repeats_the_prompt_then_says_goodbye_after_three(
    twilio: TwilioClient, session: Session
) -> None:
    _rota(session)
    call = play(twilio, LANDLINE)
    for _ in range(2):
        answer = call.stay_silent()
        assert answer.said() == ["Nothing keyed.", "Carer number."]
        assert answer.gather() is not None
    answer = call.stay_silent()
    assert answer.said() == ["Nothing was keyed. Please call again."]
    assert call.ended
    steps = rows(session, CallStep, CallStep.call_sid == call.call_sid)
    assert [s.outcome for s in steps] == [None, "silence", "silence", "silence"]
    assert count(session, LogEvent) == 0


def test_silence_at_the_pin_asks_for_the_pin_again(
    twilio: TwilioClient, session: Session
) -> None:
    _rota(session)
    call = play(twilio, LANDLINE, "1234")
    assert call.stay_silent().said() == ["Nothing keyed.", "PIN."]
    call.press("5678")
    assert call.heard[-1].startswith("Logged in at")


def test_silence_after_the_read_back_ends_the_call_and_keeps_the_log_in(
    twilio: TwilioClient, session: Session
) -> None:
    _rota(session)
    call = play(twilio, LANDLINE, "1234", "5678")
    assert call.stay_silent().said() == ["Goodbye."]
    assert call.ended
    assert count(session, LogEvent) == 1


# --- Faults ------------------------------------------------------------------------------------

def test_fault_in_an_action_apologises_hangs_up_and_keeps_the_step(
    twilio: TwilioClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _rota(session)

    def broken(ctx: StepContext) -> str:
        raise RuntimeError("database fell over")

    monkeypatch.setitem(actions.ACTIONS, "check_pin", broken)
    call = play(twilio, LANDLINE, "1234", "5678")
    assert call.ended
    assert call.last is not None
    assert call.last.said() == ["Sorry, something went wrong. Please ring the office."]
    step = rows(session, CallStep, CallStep.call_sid == call.call_sid, CallStep.seq == 2)[0]
    assert (step.state, step.outcome, step.digits) == ("fault", "fault", "****")
    assert "5678" not in str(step.raw)
    assert count(session, LogEvent) == 0
    # Twilio's retry of the faulted step hears the same apology and stores nothing more.
    again = twilio.post_twiml("/twilio/voice/step/2", call.params(Digits="5678"))
    assert again.said() == call.last.said()
    assert count(session, CallStep, CallStep.call_sid == call.call_sid) == 3


def test_fault_on_the_first_step_still_answers(
    twilio: TwilioClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(ctx: StepContext) -> str:
        raise RuntimeError("boom")

    monkeypatch.setitem(actions.ACTIONS, "locate_by_caller_id", broken)
    call = play(twilio, LANDLINE)
    assert call.ended
    assert call.heard == ["Sorry, something went wrong. Please ring the office."]
    [step] = rows(session, CallStep)
    assert (step.call_sid, step.seq, step.state) == (call.call_sid, 0, "fault")


# --- Status callbacks --------------------------------------------------------------------------

def test_status_callback_records_how_and_when_the_call_ended(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    _rota(session)
    call = play(twilio, LANDLINE, "1234")  # the carer hangs up at the PIN prompt
    clock.advance(minutes=1)
    response = twilio.post("/twilio/status", call.params(CallStatus="completed",
                                                          CallDuration="14"))
    assert response.status_code == 204
    [stored] = rows(session, Call)
    assert stored.status == "completed"
    assert stored.ended_at == NINE_AM + timedelta(minutes=1)


def test_status_callback_keeps_the_hang_up_time_of_a_finished_flow(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    _rota(session)
    call = play(twilio, LANDLINE, "1234", "5678")
    call.stay_silent()
    clock.advance(seconds=20)
    twilio.post("/twilio/status", call.params(CallStatus="completed"))
    [stored] = rows(session, Call)
    assert stored.status == "completed"
    assert stored.ended_at == NINE_AM


def test_status_callback_for_an_unknown_call_is_acknowledged(
    twilio: TwilioClient, session: Session
) -> None:
    response = twilio.post("/twilio/status", {**_first_step(), "CallStatus": "completed"})
    assert response.status_code == 204
    assert count(session, Call) == 0


# --- Webhooks never wait on anything remote ----------------------------------------------------

def test_no_step_of_a_call_makes_an_outbound_connection(
    twilio: TwilioClient, session: Session, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _rota(session)
    outbound: list[Any] = []
    real_connect = socket.socket.connect

    def guarded_connect(sock: socket.socket, address: Any) -> Any:
        local = sock.family == socket.AF_UNIX or (
            isinstance(address, tuple) and address[0] in ("127.0.0.1", "::1", "localhost"))
        if not local:
            outbound.append(address)
            raise OSError(f"outbound connection to {address!r} from a webhook")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    play(twilio, LANDLINE, "1234", "5678").stay_silent()
    clock.advance(minutes=30)
    call: PlayedCall = play(twilio, LANDLINE, "1234", "5678")
    call.press("1")
    call.record()
    assert call.heard[-1] == "Thank you. The office will listen to it."
    assert count(session, ConcernRecording) == 1
    assert outbound == []
