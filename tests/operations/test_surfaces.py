"""Webhooks first: the twilio-only app (Procfile web_twilio) serves Twilio's webhooks, /healthz
and /metrics and nothing of the dashboard or the API; the full app (web) still serves all."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from ivr_gateway.app import create_app
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from tests.factories import make_adult, make_care_worker
from tests.ivr.calls import PlayedCall, new_call_sid
from tests.operations.conftest import METRICS_TOKEN
from tests.twilio_client import TwilioClient


@pytest.fixture
def twilio_app(settings: Settings, database: Database, clock: FixedClock) -> Flask:
    """The webhooks-only app on the test database."""
    app = create_app(settings, database, clock, surface="twilio")
    app.config["TESTING"] = True
    return app


def test_the_twilio_app_answers_calls_texts_and_status_callbacks(
        twilio_app: Flask, settings: Settings, session: Session) -> None:
    make_adult(session)
    make_care_worker(session, staff_number="1234", pin="4721")
    session.commit()
    twilio = TwilioClient(twilio_app.test_client(), settings.twilio_auth_token)
    call = PlayedCall(twilio, new_call_sid(), "+441134960001")
    assert "Carer number" in " ".join(call.start().said())
    call.press("1234")
    assert "Logged in" in " ".join(call.press("4721").said())
    text = twilio.post("/twilio/sms", {"MessageSid": "SM" + "2" * 32, "From": "+447700900123",
                                       "To": "+441134960000", "Body": "HELP"})
    assert text.status_code == 200 and b"<Message>" in text.data
    status = twilio.post("/twilio/status", {"CallSid": call.call_sid,
                                            "CallStatus": "completed", "CallDuration": "20"})
    assert status.status_code in (200, 204)
    assert twilio.post("/twilio/voice", call.params(), signature="forged").status_code == 403


@pytest.mark.parametrize("path", ["/office/", "/office/login", "/api/v1/visits?date=2026-01-13",
                                  "/api/v1/openapi.json", "/office/static/office.css"])
def test_the_twilio_app_has_no_dashboard_and_no_api(twilio_app: Flask, path: str) -> None:
    response = twilio_app.test_client().get(path)
    assert response.status_code == 404
    assert response.is_json


def test_the_twilio_app_serves_health_and_metrics(twilio_app: Flask) -> None:
    client = twilio_app.test_client()
    assert client.get("/healthz").status_code == 200
    metrics = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert metrics.status_code == 200 and b"ivr_gateway_database_up 1.0" in metrics.data


def test_the_full_app_still_serves_everything(app: Flask, settings: Settings) -> None:
    client = app.test_client()
    assert client.get("/office/login").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200
    twilio = TwilioClient(client, settings.twilio_auth_token)
    assert twilio.post_twiml("/twilio/voice", PlayedCall(
        twilio, new_call_sid(), "+441134960009").params()).status_code == 200


def test_an_unknown_surface_is_refused(settings: Settings, database: Database) -> None:
    with pytest.raises(ValueError, match="surface"):
        create_app(settings, database, surface="office")


def test_the_wsgi_module_builds_each_app_only_when_asked(monkeypatch: pytest.MonkeyPatch,
                                                         database: Database) -> None:
    import ivr_gateway.wsgi as wsgi

    monkeypatch.setenv("DATABASE_URL", database.url)
    built = wsgi.twilio_app()
    assert "office" not in built.blueprints and "ivr" in {bp.split(".")[0]
                                                          for bp in built.blueprints}
    assert "app" not in vars(wsgi) or isinstance(vars(wsgi)["app"], Flask)
