"""With the database unreachable, carers' calls and texts are kept on disk, answered truthfully,
and recorded once, in order, at their own time when it is back (ivr_gateway/outage/)."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.ivr.models import Call, CallStep
from ivr_gateway.models import LogEvent, LogKind, PinFailure, Verification
from ivr_gateway.office.unmatched import link_unmatched, unmatched_queue
from ivr_gateway.outage.replay import replay_spool
from ivr_gateway.sms.models import InboundText
from ivr_gateway.telephony.models import SpoolReplay
from ivr_gateway.telephony.spool import Spool
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.ivr.calls import PlayedCall, new_call_sid, play, rows
from tests.sms.texting import add_token, code_at, new_message_sid, text
from tests.twilio_client import TwilioClient

LANDLINE = "+441134960001"
MOBILE = "+447911123450"
NINE = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)  # 09:00 in London (GMT)
NOTE = "recorded during an outage"


def _rota(session: Session) -> None:
    adult = make_adult(session, landlines=(LANDLINE,), client_number="654321")
    carer = make_care_worker(session, staff_number="1234", pin="5678", mobiles=(MOBILE,))
    make_planned_visit(session, adult, [carer], start=NINE, minutes=30, ref="V1")
    add_token(session, adult)
    session.commit()


def _spooled(settings: Settings) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(settings.spool_dir.glob("*.json"))]


def _events(session: Session) -> list[LogEvent]:
    return rows(session, LogEvent)


def test_call_while_database_down_is_noted_then_recorded_once_at_its_own_time(
    down: TwilioClient, session: Session, database: Database, settings: Settings,
    clock: FixedClock,
) -> None:
    _rota(session)
    clock.set(NINE + timedelta(minutes=2))
    call = play(down, "0113 496 0001", "1234", "5678")
    assert call.heard == ["Carer number.", "PIN.", "Noted at 9:02. The office will confirm."]
    assert call.ended
    (item,) = _spooled(settings)
    spooled = json.dumps(item)
    assert '"5678"' not in spooled and "5678" not in item["fields"]["steps"][-1]["digits"]
    assert item["fields"]["pin_key"] and item["fields"]["staff_number"] == "1234"
    path = next(settings.spool_dir.glob("*.json"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _events(session) == []  # nothing reached the database

    clock.set(NINE + timedelta(minutes=20))  # the database is back
    report = replay_spool(database, settings, clock)
    assert report.replayed == [(f"call:{call.call_sid}", "logged")]
    (event,) = _events(session)
    assert (event.kind, event.verification) == (LogKind.IN, Verification.CALLER_ID)
    assert event.event_time == NINE + timedelta(minutes=2)
    assert NOTE in event.raw["outage"] and event.source_sid == call.call_sid
    steps = rows(session, CallStep, CallStep.call_sid == call.call_sid)
    assert [s.state for s in steps] == [
        "outage_call_answered", "outage_keyed_carer_number", "outage_keyed_pin"]
    assert steps[-1].digits == "****"
    assert list(settings.spool_dir.glob("*.json")) == []

    again = replay_spool(database, settings, clock)
    assert again.replayed == [] and len(_events(session)) == 1


def test_text_while_database_down_is_noted_then_its_code_is_checked_as_at_arrival(
    down: TwilioClient, session: Session, database: Database, settings: Settings,
    clock: FixedClock,
) -> None:
    _rota(session)
    clock.set(NINE + timedelta(minutes=2))
    reply = text(down, MOBILE, f"IN {code_at(clock.now())}")
    assert reply.text == "Noted at 09:02. The office will confirm."
    clock.set(NINE + timedelta(hours=1))  # an hour later: the code would be too old by now
    report = replay_spool(database, settings, clock)
    assert [outcome for _, outcome in report.replayed] == ["logged"]
    (event,) = _events(session)
    assert event.kind == LogKind.IN and event.verification == Verification.TOKEN_CODE
    assert event.event_time == NINE + timedelta(minutes=2)
    assert NOTE in event.raw["outage"]
    (stored,) = rows(session, InboundText)
    assert stored.received_at == NINE + timedelta(minutes=2) and NOTE in stored.detail


def test_spooled_calls_and_texts_are_recorded_in_the_order_they_happened(
    down: TwilioClient, session: Session, database: Database, settings: Settings,
    clock: FixedClock,
) -> None:
    _rota(session)
    clock.set(NINE + timedelta(minutes=2))
    play(down, LANDLINE, "1234", "5678")  # in, by phone
    clock.set(NINE + timedelta(minutes=33))
    text(down, MOBILE, f"OUT {code_at(clock.now())}")  # out, by text
    clock.set(NINE + timedelta(minutes=50))
    replay_spool(database, settings, clock)
    events = _events(session)
    assert [(e.kind, e.event_time) for e in events] == [
        (LogKind.IN, NINE + timedelta(minutes=2)), (LogKind.OUT, NINE + timedelta(minutes=33))]
    assert events[0].actual_visit_id == events[1].actual_visit_id


def test_wrong_pin_during_outage_logs_nothing_and_is_listed_for_the_office(
    down: TwilioClient, session: Session, database: Database, settings: Settings,
    clock: FixedClock,
) -> None:
    _rota(session)
    clock.set(NINE + timedelta(minutes=2))
    call = play(down, LANDLINE, "1234", "0000")
    assert call.heard[-1] == "Noted at 9:02. The office will confirm."
    replay_spool(database, settings, clock)
    assert _events(session) == []
    (replayed,) = rows(session, SpoolReplay)
    assert replayed.outcome == "refused" and "PIN not recognised" in replayed.detail
    (failure,) = rows(session, PinFailure)
    assert failure.at == NINE + timedelta(minutes=2)  # counts towards the lockout, as then
    queue = [i for i in unmatched_queue(session, clock.now()) if i.kind == "spooled"]
    assert len(queue) == 1 and "PIN not recognised" in queue[0].what
    assert queue[0].who == LANDLINE and queue[0].targets  # the day's visits to link it to


def test_withheld_caller_keys_the_client_number_and_is_logged_unverified(
    down: TwilioClient, session: Session, database: Database, settings: Settings,
    clock: FixedClock,
) -> None:
    _rota(session)
    clock.set(NINE + timedelta(minutes=5))
    call = play(down, "anonymous", "654321", "1234", "5678")
    assert call.heard[0].startswith("Phone not recognised. Key the client number")
    replay_spool(database, settings, clock)
    (event,) = _events(session)
    assert event.verification == Verification.UNVERIFIED
    assert event.raw["client_number_keyed"] == "654321"
    assert event.planned_visit_id is not None


def test_a_call_the_database_drops_in_the_middle_starts_again_without_it(
    twilio: TwilioClient, down: TwilioClient, session: Session, database: Database,
    settings: Settings, clock: FixedClock,
) -> None:
    _rota(session)
    clock.set(NINE + timedelta(minutes=2))
    call = PlayedCall(twilio, new_call_sid(), LANDLINE)
    call.start()  # the database answered the first step
    call.twilio = down  # and is gone for the next
    answer = call.press("1234")
    assert answer.said() == ["Sorry, please key that again.", "Carer number."]
    call.press("1234")
    call.press("5678")
    assert call.heard[-1] == "Noted at 9:02. The office will confirm."
    replay_spool(database, settings, clock)
    (event,) = _events(session)
    assert event.kind == LogKind.IN and NOTE in event.raw["outage"]
    calls = rows(session, Call)
    assert {c.call_sid for c in calls} == {call.call_sid, call.call_sid + "-outage"}


def test_fallback_urls_always_spool_and_check_signatures(
    twilio: TwilioClient, session: Session, database: Database, settings: Settings,
    clock: FixedClock,
) -> None:
    _rota(session)
    clock.set(NINE + timedelta(minutes=2))
    sid = new_message_sid()
    form = {"MessageSid": sid, "From": MOBILE, "To": "+441134960000",
            "Body": f"IN {code_at(clock.now())}"}
    forged = twilio.post("/twilio/sms/fallback", form, signature="bad")
    assert forged.status_code == 403
    forged_call = twilio.post("/twilio/voice/fallback", {"CallSid": "CA1", "From": LANDLINE},
                              signature="bad")
    assert forged_call.status_code == 403
    assert _spooled(settings) == []

    answer = twilio.post("/twilio/sms/fallback", form)
    assert b"Noted at 09:02. The office will confirm." in answer.get_data()
    again = twilio.post("/twilio/sms/fallback", form)  # Twilio's repeat changes nothing
    assert again.status_code == 200
    clock.set(NINE + timedelta(minutes=40))
    call = PlayedCall(twilio, new_call_sid(), LANDLINE)
    call.last = twilio.post_twiml("/twilio/voice/fallback", call.params())
    assert call.last.said() == ["Carer number."]
    call.press("1234")
    call.press("5678")
    assert call.last.said() == ["Noted at 9:40. The office will confirm."]
    assert _events(session) == [] and len(_spooled(settings)) == 2  # database up: spooled

    report = replay_spool(database, settings, clock)
    outcomes = sorted(o for _, o in report.replayed)
    assert outcomes == ["logged", "logged"]  # the text logs in; the call logs out
    assert [e.kind for e in _events(session)] == [LogKind.IN, LogKind.OUT]


def test_healthz_reports_the_spool_depth_and_the_oldest_age(
    down: TwilioClient, session: Session, settings: Settings, clock: FixedClock,
) -> None:
    _rota(session)
    clock.set(NINE + timedelta(minutes=2))
    text(down, MOBILE, "IN 123456")
    clock.set(NINE + timedelta(minutes=5))
    health = down.client.get("/healthz")
    assert health.status_code == 503
    assert health.json is not None
    assert health.json["spool"] == {"depth": 1, "oldest_age_seconds": 180}


def test_replay_waits_while_the_database_is_still_down(
    down: TwilioClient, session: Session, unreachable_database: Database, settings: Settings,
    clock: FixedClock,
) -> None:
    _rota(session)
    text(down, MOBILE, "IN 123456")
    report = replay_spool(unreachable_database, settings, clock)
    assert report.stopped == "the database is still unreachable" and report.waiting == 1
    assert len(_spooled(settings)) == 1


def test_a_replay_that_crashed_after_its_commit_never_records_twice(
    down: TwilioClient, session: Session, database: Database, settings: Settings,
    clock: FixedClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    _rota(session)
    clock.set(NINE + timedelta(minutes=2))
    text(down, MOBILE, f"IN {code_at(clock.now())}")

    def crash(self: Spool, item: object) -> None:
        raise KeyboardInterrupt("killed after the commit, before the file was removed")

    monkeypatch.setattr(Spool, "remove", crash)
    with pytest.raises(KeyboardInterrupt):
        replay_spool(database, settings, clock)
    monkeypatch.undo()
    assert len(_spooled(settings)) == 1 and len(_events(session)) == 1
    report = replay_spool(database, settings, clock)
    assert report.already == 1 and report.replayed == []
    assert len(_events(session)) == 1 and _spooled(settings) == []


def _a_call_cut_before_its_pin_then_a_text(down: TwilioClient, session: Session,
                                           clock: FixedClock) -> PlayedCall:
    """At 09:02 a call keys the carer number, no PIN (yet); at 09:03 a log-in text. Both spooled."""
    _rota(session)
    clock.set(NINE + timedelta(minutes=2))
    call = PlayedCall(down, new_call_sid(), LANDLINE)
    call.start()
    call.press("1234")
    clock.set(NINE + timedelta(minutes=3))
    text(down, MOBILE, f"IN {code_at(clock.now())}")
    return call


def test_an_unfinished_call_holds_back_later_items_until_it_is_over(
    down: TwilioClient, session: Session, database: Database, settings: Settings,
    clock: FixedClock,
) -> None:
    _a_call_cut_before_its_pin_then_a_text(down, session, clock)
    report = replay_spool(database, settings, clock)
    assert report.stopped == "a call is still under way" and report.waiting == 2
    clock.set(NINE + timedelta(minutes=10))  # the carer hung up long ago
    report = replay_spool(database, settings, clock)
    assert [o for _, o in report.replayed] == ["refused", "logged"]
    (replayed_call,) = rows(session, SpoolReplay, SpoolReplay.kind == "call")
    assert "ended before the PIN" in replayed_call.detail


def test_a_call_twilio_says_is_over_no_longer_holds_back_the_items_after_it(
    down: TwilioClient, session: Session, database: Database, settings: Settings,
    clock: FixedClock,
) -> None:
    call = _a_call_cut_before_its_pin_then_a_text(down, session, clock)
    response = down.post("/twilio/status", {"CallSid": call.call_sid,
                                             "CallStatus": "completed"})
    assert response.status_code == 503  # the database is still down: only the spool heard it
    clock.set(NINE + timedelta(minutes=4))  # well within CALL_IN_PROGRESS
    report = replay_spool(database, settings, clock)
    assert report.stopped == ""
    assert [o for _, o in report.replayed] == ["refused", "logged"]
    (replayed_call,) = rows(session, SpoolReplay, SpoolReplay.kind == "call")
    assert "ended before the PIN" in replayed_call.detail


def test_a_status_callback_for_a_call_the_spool_does_not_hold_changes_nothing_there(
    down: TwilioClient, settings: Settings,
) -> None:
    call = PlayedCall(down, new_call_sid(), LANDLINE)
    call.start()
    call.press("1234")
    before = {p.name: p.read_bytes() for p in Path(settings.spool_dir).glob("*.json")}
    down.post("/twilio/status", {"CallSid": new_call_sid(), "CallStatus": "completed"})
    down.post("/twilio/status", {"CallSid": call.call_sid, "CallStatus": "ringing"})
    assert {p.name: p.read_bytes() for p in Path(settings.spool_dir).glob("*.json")} == before


def test_with_the_disk_refusing_too_the_carer_hears_the_apology_not_noted(
    down_app: Flask, settings: Settings, tmp_path: Path, session: Session, clock: FixedClock,
) -> None:
    _rota(session)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the spool folder should be")
    down_app.extensions["settings"] = settings.with_overrides(spool_dir=blocked)
    down = TwilioClient(down_app.test_client(), settings.twilio_auth_token)
    reply = text(down, MOBILE, "IN 123456")
    assert reply.text == ("Sorry, we could not take your text just now. "
                          "Please call the office.")  # not "kept": nothing was
    call = play(down, LANDLINE)
    assert call.heard == ["Sorry, something went wrong. Please ring the office."] and call.ended


def test_the_office_links_a_refused_outage_call_to_its_visit_at_the_call_time(
    down: TwilioClient, session: Session, database: Database, settings: Settings,
    clock: FixedClock,
) -> None:
    _rota(session)
    clock.set(NINE + timedelta(minutes=4))
    play(down, LANDLINE, "1234", "9999")  # a mistyped PIN while the database was down
    replay_spool(database, settings, clock)
    (replayed,) = rows(session, SpoolReplay)
    clock.set(NINE + timedelta(hours=2))
    link_unmatched(session, "spooled", replayed.id, "V1", "Rang Amy: she was there at 9:04",
                   now=clock.now(), actor="jo")
    session.commit()
    (event,) = _events(session)
    assert (event.kind, event.verification) == (LogKind.IN, Verification.OFFICE)
    assert event.event_time == NINE + timedelta(minutes=4)
    assert not [i for i in unmatched_queue(session, clock.now()) if i.kind == "spooled"]


@pytest.mark.parametrize("finished_first", [True, False])
def test_a_call_whose_steps_two_web_hosts_spooled_is_recorded_once_from_the_whole_one(
    down_app: Flask, session: Session, database: Database, settings: Settings,
    clock: FixedClock, tmp_path: Path, finished_first: bool,
) -> None:
    _rota(session)
    clock.set(NINE + timedelta(minutes=2))
    host_a, host_b = settings, settings.with_overrides(spool_dir=tmp_path / "host-b")
    call = PlayedCall(TwilioClient(down_app.test_client(), settings.twilio_auth_token),
                      new_call_sid(), LANDLINE)
    call.start()  # host A takes the start
    down_app.extensions["settings"] = host_b  # Twilio reaches host B for the rest
    call.press("1234")
    call.press("5678")
    assert call.heard[-1] == "Noted at 9:02. The office will confirm."
    clock.set(NINE + timedelta(minutes=10))  # host A's start is no longer a call under way
    for host in ([host_b, host_a] if finished_first else [host_a, host_b]):
        replay_spool(database, settings.with_overrides(spool_dir=host.spool_dir), clock)
    assert len(_events(session)) == 1
    assert {r.outcome for r in rows(session, SpoolReplay)} == {"logged", "done"}
    assert [i.kind for i in unmatched_queue(session, clock.now())
            if i.kind in ("spooled", "unknown_call")] == []


def test_a_status_callback_while_the_database_is_down_is_answered_503_and_spools_nothing(
    down: TwilioClient, settings: Settings,
) -> None:
    response = down.post("/twilio/status", {"CallSid": new_call_sid(),
                                             "CallStatus": "completed"})
    assert response.status_code == 503
    assert b"database cannot be reached" in response.get_data()
    assert _spooled(settings) == []
