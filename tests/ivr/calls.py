"""Plays calls against the app the way Twilio does: signed posts, following the TwiML."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr_gateway.models import ExceptionCode, VisitException
from tests.twilio_client import TwilioClient, TwimlResponse

T = TypeVar("T")

_sids = itertools.count(1)


def new_call_sid() -> str:
    """A fresh CallSid-shaped identifier."""
    return f"CA{next(_sids):032d}"


@dataclass
class PlayedCall:
    """A call in progress: what was heard and keyed so far."""

    twilio: TwilioClient
    call_sid: str
    from_number: str
    heard: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    last: TwimlResponse | None = None
    ended: bool = False

    def params(self, **extra: str) -> dict[str, str]:
        """The form Twilio posts on every step of this call."""
        return {"CallSid": self.call_sid, "AccountSid": "AC" + "0" * 32, "From": self.from_number,
                "To": "+441134960000", "CallStatus": "in-progress", "Direction": "inbound",
                **extra}

    def _take(self, response: TwimlResponse) -> TwimlResponse:
        self.last = response
        self.heard.extend(response.said())
        self.ended = "Hangup" in response.verbs()
        return response

    def start(self) -> TwimlResponse:
        """Twilio's first request: the call has been answered."""
        return self._take(self.twilio.post_twiml("/twilio/voice",
                                                 self.params(CallStatus="ringing")))

    def press(self, digits: str) -> TwimlResponse:
        """Key digits into the current <Gather>."""
        assert self.last is not None and not self.ended
        gather = self.last.gather()
        assert gather is not None, f"no Gather to key into: {self.last.verbs()}"
        self.keys.append(digits)
        return self._take(self.twilio.post_twiml(gather.attrib["action"],
                                                 self.params(Digits=digits)))

    def stay_silent(self) -> TwimlResponse:
        """Let the <Gather> time out: Twilio follows the <Redirect> after it."""
        assert self.last is not None
        redirect = self.last.root.find("Redirect")
        assert redirect is not None and redirect.text
        return self._take(self.twilio.post_twiml(redirect.text, self.params()))

    def record(self, url: str = "https://api.twilio.com/rec/RE1", seconds: str = "7"
               ) -> TwimlResponse:
        """Speak into a <Record> and finish."""
        assert self.last is not None
        rec = self.last.root.find("Record")
        assert rec is not None
        return self._take(self.twilio.post_twiml(rec.attrib["action"], self.params(
            RecordingUrl=url, RecordingSid="RE" + "1" * 32, RecordingDuration=seconds)))

    def words_heard(self) -> int:
        """Words spoken to the carer so far."""
        return sum(len(text.split()) for text in self.heard)

    def keys_pressed(self) -> int:
        """Keys the carer pressed so far."""
        return sum(len(k) for k in self.keys)


def play(twilio: TwilioClient, from_number: str, *key_groups: str) -> PlayedCall:
    """Start a call and key each group into the successive Gathers."""
    call = PlayedCall(twilio, new_call_sid(), from_number)
    call.start()
    for group in key_groups:
        call.press(group)
    return call


def rows(session: Session, model: type[T], *criteria: Any) -> list[T]:
    """Fresh rows of a table (in id order), read in a transaction that is ended at once.

    SQLite takes its write lock at BEGIN, so a test must not hold a transaction open while the
    app answers the next webhook; committing keeps the loaded values (expire_on_commit=False).
    """
    session.rollback()
    session.expire_all()  # rollback() outside a transaction expires nothing
    found = list(session.scalars(select(model).where(*criteria).order_by(model.id)))
    session.commit()
    return found


def count(session: Session, model: type[Any], *criteria: Any) -> int:
    """How many rows of a table match."""
    session.rollback()
    n = session.scalar(select(func.count()).select_from(model).where(*criteria)) or 0
    session.commit()
    return int(n)


def exception_codes(session: Session, *criteria: Any) -> list[ExceptionCode]:
    """The codes of the visit exceptions that match, in the order they were raised."""
    return [e.code for e in rows(session, VisitException, *criteria)]
