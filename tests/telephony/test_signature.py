"""Every Twilio webhook checks X-Twilio-Signature, against PUBLIC_BASE_URL behind a proxy."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr_gateway.app import create_app
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.ivr.models import Call, CallStep
from ivr_gateway.telephony.signature import sign

FORM = {"CallSid": "CA" + "7" * 32, "From": "+441134960001", "To": "+441134960000",
        "AccountSid": "AC" + "0" * 32, "CallStatus": "ringing"}


@pytest.fixture
def proxied_client(database: Database, clock: FixedClock) -> FlaskClient:
    """The app as deployed behind a TLS proxy: Twilio signs the public https URL."""
    settings = Settings(database_url=database.url, public_base_url="https://ivr.example.org")
    return create_app(settings, database, clock).test_client()


def _count(session: Session) -> tuple[int, int]:
    return (session.scalar(select(func.count()).select_from(Call)) or 0,
            session.scalar(select(func.count()).select_from(CallStep)) or 0)


def test_signature_over_the_public_url_is_accepted_behind_a_proxy(
    proxied_client: FlaskClient, settings: Settings, session: Session
) -> None:
    signature = sign(settings.twilio_auth_token, "https://ivr.example.org/twilio/voice", FORM)
    response = proxied_client.post("/twilio/voice", data=FORM,
                                   headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200
    assert _count(session) == (1, 1)


@pytest.mark.parametrize("signed_url", [
    "http://localhost/twilio/voice",  # what the app sees behind the proxy, not what Twilio called
    "https://ivr.example.org/twilio/sms",  # another webhook's URL
])
def test_signature_over_another_url_is_refused_and_nothing_is_stored(
    proxied_client: FlaskClient, settings: Settings, session: Session, signed_url: str
) -> None:
    signature = sign(settings.twilio_auth_token, signed_url, FORM)
    response = proxied_client.post("/twilio/voice", data=FORM,
                                   headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert _count(session) == (0, 0)


def test_a_changed_form_field_breaks_the_signature(
    proxied_client: FlaskClient, settings: Settings, session: Session
) -> None:
    signature = sign(settings.twilio_auth_token, "https://ivr.example.org/twilio/voice", FORM)
    forged = {**FORM, "From": "+441134960999"}
    response = proxied_client.post("/twilio/voice", data=forged,
                                   headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert _count(session) == (0, 0)


def test_query_string_parameters_do_not_count_as_signed_form_fields(
    proxied_client: FlaskClient, settings: Settings, session: Session
) -> None:
    # Signed as if From were in the form; sent in the query string instead (request.values
    # would mix them; the check uses request.form only).
    signature = sign(settings.twilio_auth_token, "https://ivr.example.org/twilio/voice", FORM)
    partial = {k: v for k, v in FORM.items() if k != "From"}
    response = proxied_client.post("/twilio/voice?From=%2B441134960001", data=partial,
                                   headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert _count(session) == (0, 0)


def test_status_callback_is_signed_too(client: FlaskClient) -> None:
    response = client.post("/twilio/status", data={"CallSid": FORM["CallSid"],
                                                   "CallStatus": "completed"})
    assert response.status_code == 403


def test_a_signature_over_the_url_with_its_explicit_port_is_accepted_too(
    proxied_client: FlaskClient, settings: Settings, session: Session
) -> None:
    # Twilio's libraries accept the URL with and without :443; the fast path (one HMAC over the
    # URL as we know it) must not lose that.
    signature = sign(settings.twilio_auth_token, "https://ivr.example.org:443/twilio/voice", FORM)
    response = proxied_client.post("/twilio/voice", data=FORM,
                                   headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200
    assert _count(session) == (1, 1)


@pytest.mark.parametrize("header", ["", "not-base64", "A" * 28])
def test_a_missing_or_garbage_signature_is_refused(
    proxied_client: FlaskClient, session: Session, header: str
) -> None:
    response = proxied_client.post("/twilio/voice", data=FORM,
                                   headers={"X-Twilio-Signature": header} if header else {})
    assert response.status_code == 403
    assert _count(session) == (0, 0)
