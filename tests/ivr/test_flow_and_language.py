"""The flow is data: Polish carers hear Polish once their PIN is verified, the TwiML keeps the
call short, and a broken flow file is refused at load time with the fault named."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import PROJECT_ROOT, Settings
from ivr_gateway.ivr.actions import ACTIONS
from ivr_gateway.ivr.engine import FLOW_NAME, NOTE_PROMPTS, carer_flow
from ivr_gateway.ivr.flow import Flow, FlowError, load_flow
from ivr_gateway.ivr.models import Call
from ivr_gateway.models import LogEvent, LogKind
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import PlayedCall, new_call_sid, play, rows
from tests.twilio_client import TwilioClient, TwimlResponse

LANDLINE = "+441134960001"
NINE_AM = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)


def _rota(session: Session, language: str = "en") -> None:
    adult = make_adult(session, given_name="Joan", family_name="Smith", landlines=(LANDLINE,))
    carer = make_care_worker(session, staff_number="4321", pin="8765", language=language)
    make_planned_visit(session, adult, [carer], start=NINE_AM)
    session.commit()


def _say_languages(answer: TwimlResponse) -> set[str]:
    return {say.attrib.get("language", "") for say in answer.root.iter("Say")}


# --- Polish --------------------------------------------------------------------------------------

def test_polish_carer_hears_polish_once_the_pin_is_verified(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    _rota(session, language="pl")
    clock.set(NINE_AM + timedelta(minutes=2))
    call = play(twilio, LANDLINE)
    assert call.heard == ["Carer number."]  # not yet known who is calling
    answer = call.press("4321")
    # Still not known: a carer number is only a claim until its PIN is right.
    assert answer.said() == ["PIN."]
    assert _say_languages(answer) == {"en-GB"}
    answer = call.press("8765")
    assert answer.said() == ["Zalogowano o 9:02 u J. S. Naciśnij 9, jeśli to błąd."]
    assert _say_languages(answer) == {"pl-PL"}
    assert {s.attrib["voice"] for s in answer.root.iter("Say")} == {"Polly.Ewa"}
    [stored] = rows(session, Call)
    assert stored.language == "pl"


def _answers_up_to_the_pin(twilio: TwilioClient, staff_number: str, pin: str) -> list[str]:
    call = PlayedCall(twilio, new_call_sid(), LANDLINE)
    return [answer.response.get_data(as_text=True)
            for answer in (call.start(), call.press(staff_number), call.press(pin))]


def test_a_caller_cannot_tell_a_polish_carers_number_from_one_that_does_not_exist(
    twilio: TwilioClient, session: Session
) -> None:
    _rota(session, language="pl")
    polish = _answers_up_to_the_pin(twilio, "4321", "0000")
    nobody = _answers_up_to_the_pin(twilio, "9999", "0000")
    # The same TwiML, byte for byte, up to and including the PIN prompt...
    assert polish[:2] == nobody[:2]
    assert "PIN." in polish[1]
    # ...and for the wrong PIN that follows: the number is never confirmed without its PIN.
    assert polish[2] == nobody[2]
    assert "Carer number or PIN not recognised." in polish[2]
    assert [c.language for c in rows(session, Call)] == ["en", "en"]


def test_polish_carer_hears_lateness_and_log_out_in_polish(
    twilio: TwilioClient, session: Session, clock: FixedClock
) -> None:
    _rota(session, language="pl")
    clock.set(NINE_AM + timedelta(minutes=40))
    call = play(twilio, LANDLINE, "4321", "8765")
    assert call.heard[-1] == ("Zalogowano o 9:40 u J. S. Spóźnienie: 40 minut. "
                              "Naciśnij 9, jeśli to błąd.")
    clock.advance(minutes=30)
    call = play(twilio, LANDLINE, "4321", "8765")
    assert call.heard[-1] == ("Wylogowano o 10:10 u J. S. 30 minut. "
                              "Naciśnij 1, aby zgłosić problem, 9, jeśli to błąd.")
    assert [e.kind for e in rows(session, LogEvent)] == [LogKind.IN, LogKind.OUT]


def test_polish_carer_with_a_wrong_pin_is_told_in_english_like_anyone(
    twilio: TwilioClient, session: Session
) -> None:
    _rota(session, language="pl")
    call = play(twilio, LANDLINE, "4321", "0000")
    assert call.last is not None
    assert call.last.said() == ["Carer number or PIN not recognised.", "Carer number."]
    assert _say_languages(call.last) == {"en-GB"}
    call.press("4321")
    call.press("8765")  # right the second time: Polish from here
    assert call.heard[-1] == "Zalogowano o 9:00 u J. S. Naciśnij 9, jeśli to błąd."


def test_carer_language_without_prompts_falls_back_to_english(
    twilio: TwilioClient, session: Session
) -> None:
    _rota(session, language="cy")
    call = play(twilio, LANDLINE, "4321", "8765")
    assert call.heard[-1] == "Logged in at 9:00 for J. S. Press 9 if wrong."
    assert call.last is not None and _say_languages(call.last) == {"en-GB"}


# --- TwiML shape ---------------------------------------------------------------------------------

def test_prompts_are_inside_gather_ended_by_num_digits_not_hash(
    twilio: TwilioClient, session: Session
) -> None:
    _rota(session)
    call = play(twilio, LANDLINE)
    for answer, expected_digits in ((call.last, "4"), (call.press("4321"), "4")):
        assert answer is not None
        assert answer.verbs() == ["Gather", "Redirect"]
        gather = answer.gather()
        assert gather is not None
        assert [child.tag for child in gather] == ["Say"]
        assert gather.attrib["numDigits"] == expected_digits
        assert gather.attrib.get("finishOnKey", "") == ""  # '' turns '#' off in Twilio
        assert gather.attrib["input"] == "dtmf"
        assert gather.attrib["action"].startswith("http://localhost/twilio/voice/step/")
        redirect = answer.root.find("Redirect")
        assert redirect is not None and redirect.text is not None
        assert redirect.text.endswith("?silence=1")
        assert _say_languages(answer) == {"en-GB"}


def test_read_back_waits_one_digit_for_9_or_1(twilio: TwilioClient, session: Session) -> None:
    _rota(session)
    call = play(twilio, LANDLINE, "4321", "8765")
    assert call.last is not None
    gather = call.last.gather()
    assert gather is not None and gather.attrib["numDigits"] == "1"
    assert [child.tag for child in gather] == ["Say"]


def test_goodbyes_say_then_hang_up(twilio: TwilioClient, session: Session) -> None:
    _rota(session)
    call = play(twilio, LANDLINE, "4321", "8765")
    answer = call.press("5")  # neither 9 nor 1: done
    assert answer.verbs() == ["Say", "Hangup"]
    assert answer.said() == ["Goodbye."]


# --- The flow file is checked when loaded --------------------------------------------------------

@pytest.fixture
def flow_copy(tmp_path: Path) -> Path:
    """A copy of callflows/ to break."""
    target = tmp_path / "callflows"
    shutil.copytree(PROJECT_ROOT / "callflows", target)
    return target


def _load(directory: Path) -> Flow:
    return load_flow(directory, FLOW_NAME, set(ACTIONS), set(NOTE_PROMPTS))


def test_the_shipped_flow_loads() -> None:
    flow = carer_flow(Settings())
    assert flow.start == "locate"
    assert {"en", "pl"} <= flow.prompts.keys()


def test_flow_leading_to_an_unknown_state_is_refused(flow_copy: Path) -> None:
    path = flow_copy / "carer_log.toml"
    text = path.read_text()
    path.write_text(text.replace('next = { ok = "pin" }', 'next = { ok = "pin_please" }'))
    with pytest.raises(FlowError) as error:
        _load(flow_copy)
    message = str(error.value)
    assert "state staff_number" in message
    assert "unknown state 'pin_please'" in message


def test_flow_missing_a_polish_prompt_is_refused(flow_copy: Path) -> None:
    path = flow_copy / "prompts" / "pl.toml"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(line for line in lines if not line.startswith("pin = ")))
    with pytest.raises(FlowError, match=r"prompts/pl\.toml lacks \['pin'\]"):
        _load(flow_copy)


def test_prompt_with_other_placeholders_than_english_is_refused(flow_copy: Path) -> None:
    path = flow_copy / "prompts" / "pl.toml"
    path.write_text(path.read_text().replace("Zalogowano o {time}", "Zalogowano o {czas}"))
    with pytest.raises(FlowError, match="logged_in has placeholders"):
        _load(flow_copy)


def test_flow_naming_an_unknown_action_is_refused(flow_copy: Path) -> None:
    path = flow_copy / "carer_log.toml"
    path.write_text(path.read_text().replace('action = "check_pin"', 'action = "chek_pin"'))
    with pytest.raises(FlowError, match="state pin: unknown action 'chek_pin'"):
        _load(flow_copy)


def test_flow_file_that_is_not_toml_is_refused(flow_copy: Path) -> None:
    (flow_copy / "carer_log.toml").write_text("start = \n")
    with pytest.raises(FlowError, match=r"carer_log\.toml"):
        _load(flow_copy)
