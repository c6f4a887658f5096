"""Texts to the app the way Twilio sends them, and small helpers to arrange visit codes."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.models import Adult
from ivr_gateway.sms.codes import encrypt_secret, time_step, totp_at_step
from ivr_gateway.sms.devices import PrintedSheet, new_code_sheet
from ivr_gateway.sms.models import VisitCodeToken
from ivr_gateway.sms.simulator import message_form
from tests.twilio_client import TwilioClient

_sids = itertools.count(1)
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # a published example secret
GATEWAY = "+441134960000"


def new_message_sid() -> str:
    """A fresh MessageSid-shaped identifier."""
    return f"SM{next(_sids):032d}"


@dataclass
class Reply:
    """The gateway's answer to a text."""

    status_code: int
    messages: list[str]

    @property
    def text(self) -> str:
        """The one reply (empty when none)."""
        assert len(self.messages) <= 1, self.messages
        return self.messages[0] if self.messages else ""


def text(twilio: TwilioClient, from_number: str, body: str, message_sid: str | None = None
         ) -> Reply:
    """POST a signed inbound text to /twilio/sms; parse the TwiML reply."""
    form = message_form(message_sid or new_message_sid(), "AC" + "0" * 32, from_number, GATEWAY,
                        body)
    response = twilio.post("/twilio/sms", form)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.get_data())
    assert root.tag == "Response"
    return Reply(response.status_code, [m.text or "" for m in root.iter("Message")])


def add_token(session: Session, adult: Adult, *, serial: str = "T1", digits: int = 6,
              step: int = 30, secret: str = SECRET, drift: int = 0) -> VisitCodeToken:
    """A token fixed in the adult's home."""
    token = VisitCodeToken(serial=serial, adult_id=adult.id,
                           secret_encrypted=encrypt_secret(secret, Settings().token_secret_key),
                           digits=digits, step_seconds=step, drift_steps=drift, active=True,
                           created_at=adult.created_at, updated_at=adult.created_at)
    session.add(token)
    session.flush()
    return token


def code_at(at: datetime, *, digits: int = 6, step: int = 30, secret: str = SECRET,
            ahead_steps: int = 0) -> str:
    """The code a token shows at an instant (its clock `ahead_steps` ahead of ours)."""
    return totp_at_step(secret, time_step(at, step) + ahead_steps, digits)


def add_sheet(session: Session, adult: Adult, now: datetime, count: int = 20) -> PrintedSheet:
    """A printed code sheet for the adult (its codes in clear, as printed)."""
    return new_code_sheet(session, adult.ref, count=count, settings=Settings(), now=now,
                          actor="test")
