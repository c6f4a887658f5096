"""Outbound texts and calls: a Sender protocol, a recording sender and the Twilio REST sender.

The outbox relay calls the adapters built by `outbox_adapters` with each message's key and
payload; they never touch the database. Status callbacks come back to /twilio/status with the
notification id in the query string, so no provider SID has to be stored before the send.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from ivr_gateway.outbox.relay import Adapter, Delivery

log = logging.getLogger(__name__)


class SendError(Exception):
    """A send that did not happen; permanent when retrying cannot help (a refused number)."""

    def __init__(self, message: str, *, permanent: bool = False,
                 retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Sender(Protocol):
    """Sends a text or places a call; returns the provider's id; raises SendError."""

    def send_text(self, to: str, body: str, status_callback: str, key: str) -> str:
        """Send one SMS."""
        ...

    def place_call(self, to: str, twiml_url: str, status_callback: str, key: str) -> str:
        """Place one voice call that fetches its TwiML from twiml_url."""
        ...


@dataclass(frozen=True)
class Sent:
    """What the recording sender was asked to send."""

    channel: str
    to: str
    text: str
    url: str
    status_callback: str
    key: str


class RecordingSender:
    """Sends nothing: keeps (and optionally prints or appends to a file) what would be sent.

    The demo prints to the terminal; tests read `.sent`; the process tests read the file.
    """

    def __init__(self, echo: Callable[[str], None] | None = None,
                 log_file: Path | None = None) -> None:
        self.sent: list[Sent] = []
        self.echo = echo
        self.log_file = log_file
        self._lock = threading.Lock()
        self._count = 0

    def _record(self, item: Sent) -> str:
        with self._lock:
            self.sent.append(item)
            self._count += 1
            sid = f"REC{self._count:032d}"
            if self.log_file is not None:
                with self.log_file.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(asdict(item)) + "\n")
                    f.flush()
        if self.echo is not None:
            if item.channel == "sms":
                self.echo(f"[TEXT to {item.to}] {item.text}")
            else:
                self.echo(f"[CALL to {item.to}] rings; the alert is read out from {item.url}")
        return sid

    def send_text(self, to: str, body: str, status_callback: str, key: str) -> str:
        """Record a text."""
        return self._record(Sent("sms", to, body, "", status_callback, key))

    def place_call(self, to: str, twiml_url: str, status_callback: str, key: str) -> str:
        """Record a call."""
        return self._record(Sent("voice", to, "", twiml_url, status_callback, key))


class TwilioSender:
    """The production sender: Twilio's REST API (messages.create, calls.create)."""

    def __init__(self, account_sid: str, auth_token: str, from_number: str,
                 client: Any = None) -> None:
        if client is None:
            from twilio.rest import Client

            client = Client(account_sid, auth_token)
        self.client = client
        self.from_number = from_number

    def _call(self, make: Callable[[], Any]) -> str:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            return str(make().sid)
        except TwilioRestException as error:
            message = f"Twilio {error.status} (code {error.code}): {error.msg}"
            if error.status == 429 or error.status >= 500:
                raise SendError(message) from None
            raise SendError(message, permanent=True) from None  # bad number, unverified, ...
        except (TwilioException, OSError) as error:
            raise SendError(f"{type(error).__name__}: {error}") from None

    def send_text(self, to: str, body: str, status_callback: str, key: str) -> str:
        """messages.create with a status callback."""
        return self._call(lambda: self.client.messages.create(
            to=to, from_=self.from_number, body=body, status_callback=status_callback))

    def place_call(self, to: str, twiml_url: str, status_callback: str, key: str) -> str:
        """calls.create fetching TwiML from our URL, with a status callback when it ends."""
        return self._call(lambda: self.client.calls.create(
            to=to, from_=self.from_number, url=twiml_url, method="POST",
            status_callback=status_callback, status_callback_method="POST",
            status_callback_event=["completed"], timeout=30))


def outbox_adapters(sender: Sender, public_base_url: str) -> dict[str, Adapter]:
    """The relay's adapters for the 'sms' and 'voice' outbox kinds."""
    base = public_base_url.rstrip("/")

    def deliver(make: Callable[[], str]) -> Delivery:
        try:
            make()
        except SendError as error:
            if error.permanent:
                return Delivery.refused(str(error))
            return Delivery.retry(str(error), error.retry_after)
        return Delivery.sent()

    def sms(key: str, payload: dict[str, Any]) -> Delivery:
        return deliver(lambda: sender.send_text(payload["to"], payload["body"],
                                                base + payload["status_path"], key))

    def voice(key: str, payload: dict[str, Any]) -> Delivery:
        return deliver(lambda: sender.place_call(payload["to"], base + payload["twiml_path"],
                                                 base + payload["status_path"], key))

    return {"sms": sms, "voice": voice}
