"""Twilio's status callbacks as plain reports, and the features that subscribe to them.

The adapter owns the fixed URL (POST /twilio/status) and its signature check; what a status
means belongs to the feature that started the call or text: the IVR (how an inbound call ended),
escalation (whether an alert text or call got through). Each registers a handler in the app
factory; the webhook offers the report to them in order until one says it was theirs. So
telephony imports no feature, and a new feature subscribes without touching it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask, current_app
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class StatusReport:
    """One status callback: Twilio's fields, and the parameters we put on the callback URL."""

    call_sid: str = ""
    call_status: str = ""
    message_sid: str = ""
    message_status: str = ""
    error_code: str = ""
    url_parameters: Mapping[str, str] = field(default_factory=dict)  # e.g. notification=<id>


# Twilio's CallStatus values of a call that is over.
FINAL_CALL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})

# (session, report, now) -> True if the report was this handler's (the next ones are not asked)
StatusHandler = Callable[[Session, StatusReport, datetime], bool]

_HANDLERS = "telephony.status_handlers"


def subscribe_to_status(app: Flask, handler: StatusHandler) -> None:
    """Offer this app's status callbacks to `handler`, after those subscribed before it."""
    app.extensions.setdefault(_HANDLERS, []).append(handler)


def status_handlers() -> list[StatusHandler]:
    """The running app's subscribers, in the order they subscribed."""
    return list(current_app.extensions.get(_HANDLERS, []))


def offer(session: Session, report: StatusReport, now: datetime,
          handlers: list[StatusHandler]) -> bool:
    """Hand the report to the first handler that takes it; False if none did (acknowledged
    anyway: Twilio needs no more than a 2xx)."""
    return any(handler(session, report, now) for handler in handlers)
