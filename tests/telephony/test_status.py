"""POST /twilio/status hands each report to the features subscribed to it, first taker wins."""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from sqlalchemy.orm import Session

from ivr_gateway.app import create_app
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.telephony.signature import sign
from ivr_gateway.telephony.status import StatusReport, subscribe_to_status


def _post(app: Flask, settings: Settings, path: str, form: dict[str, str]) -> int:
    signature = sign(settings.twilio_auth_token, "http://localhost" + path, form)
    return app.test_client().post(path, data=form,
                                  headers={"X-Twilio-Signature": signature}).status_code


def test_the_first_subscriber_that_takes_a_report_is_the_only_one_to_see_it(
        settings: Settings, database: Database, clock: FixedClock) -> None:
    app = create_app(settings, database, clock)
    app.extensions["telephony.status_handlers"] = []  # only this test's subscribers
    seen: list[tuple[str, StatusReport]] = []

    def alerts(session: Session, report: StatusReport, now: datetime) -> bool:
        seen.append(("alerts", report))
        return "notification" in report.url_parameters

    def calls(session: Session, report: StatusReport, now: datetime) -> bool:
        seen.append(("calls", report))
        return True

    subscribe_to_status(app, alerts)
    subscribe_to_status(app, calls)
    assert _post(app, settings, "/twilio/status?notification=7",
                 {"MessageSid": "SM1", "MessageStatus": "delivered"}) == 204
    assert [name for name, _ in seen] == ["alerts"]
    assert seen[0][1].message_status == "delivered"
    assert seen[0][1].url_parameters == {"notification": "7"}
    seen.clear()
    assert _post(app, settings, "/twilio/status",
                 {"CallSid": "CA1", "CallStatus": "completed"}) == 204
    assert [name for name, _ in seen] == ["alerts", "calls"]


def test_a_report_nobody_subscribed_to_is_still_acknowledged(
        settings: Settings, database: Database, clock: FixedClock) -> None:
    app = create_app(settings, database, clock)
    app.extensions["telephony.status_handlers"] = []
    assert _post(app, settings, "/twilio/status", {"CallSid": "CA1", "CallStatus": "busy"}) == 204
