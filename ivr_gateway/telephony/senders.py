"""Outbound texts and calls: a Sender protocol, a recording sender and the Twilio REST sender.

The outbox relay calls the adapters built by `outbox_adapters` with each message's key and
payload; they never touch the database. Status callbacks come back to /twilio/status with the
notification id in the query string, so no provider SID has to be stored before the send.

Once, not twice: Twilio keeps no idempotency key for messages.create or calls.create, so when a
relay died between Twilio's answer and its own commit, the message's lease runs out and the next
relay would send it again. The relay marks such a message (MAYBE_SENT_SINCE, the moment the dead
attempt began) and the adapter first asks the sender whether it went: the Twilio sender lists
the messages or calls to that phone from our number since then, and finds it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from ivr_gateway.outbox.relay import MAYBE_SENT_SINCE, Adapter, Delivery

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

    def find_sent(self, channel: str, to: str, body: str, key: str, since: datetime
                  ) -> str | None:
        """The id of this text (same body) or a call to `to` made since `since`, if one went."""
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

    def find_sent(self, channel: str, to: str, body: str, key: str, since: datetime
                  ) -> str | None:
        """The recorded send of this key, if there is one (it keeps no times).

        With a log file, the file is what "Twilio" holds: every process recording to it (a
        scheduler killed mid-send and the one after it) sees what the others sent.
        """
        with self._lock:
            for number, item in enumerate(self.sent, start=1):
                if item.key == key and item.channel == channel:
                    return f"REC{number:032d}"
            if self.log_file is not None and self.log_file.exists():
                lines = self.log_file.read_text(encoding="utf-8").splitlines()
                for number, line in enumerate(lines, start=1):
                    item = Sent(**json.loads(line))
                    if item.key == key and item.channel == channel:
                        return f"REC{number:032d}"
        return None


def _http_client(api_base_url: str | None, timeout: float) -> Any:
    """Twilio's HTTP client with a timeout, sending to api_base_url instead of
    https://api.twilio.com when given (a local fake of the REST API in tests and benches)."""
    from twilio.http.http_client import TwilioHttpClient

    class BaseUrlHttpClient(TwilioHttpClient):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if api_base_url:
                url = url.replace("https://api.twilio.com", api_base_url.rstrip("/"), 1)
            return super().request(method, url, *args, **kwargs)

    return BaseUrlHttpClient(timeout=timeout)


class TwilioSender:
    """The production sender: Twilio's REST API (messages.create, calls.create)."""

    # Below the alert relay's lease (jobs.py), so a hung request ends before another relay may
    # take the message over.
    TIMEOUT_SECONDS = 10.0

    def __init__(self, account_sid: str, auth_token: str, from_number: str,
                 client: Any = None, *, api_base_url: str | None = None) -> None:
        if client is None:
            from twilio.rest import Client

            client = Client(account_sid, auth_token,
                            http_client=_http_client(api_base_url, self.TIMEOUT_SECONDS))
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

    # How far before the dead attempt's start a send still counts as it (clocks differ).
    CLOCK_MARGIN = timedelta(seconds=30)

    def find_sent(self, channel: str, to: str, body: str, key: str, since: datetime
                  ) -> str | None:
        """Ask Twilio: the newest messages (or calls) to `to` from our number, filtered by
        recipient there and by time here. Not by DateSent: it is day-granular and unset while a
        message is queued; the list is newest first, so its first page covers the window."""
        from twilio.base.exceptions import TwilioException

        after = since - self.CLOCK_MARGIN
        try:
            if channel == "sms":
                for message in self.client.messages.list(to=to, from_=self.from_number,
                                                          limit=50):
                    created = message.date_created
                    if created is not None and created >= after and message.body == body:
                        return str(message.sid)
            else:
                for call in self.client.calls.list(to=to, from_=self.from_number, limit=50):
                    created = call.date_created
                    if created is not None and created >= after:
                        return str(call.sid)
        except (TwilioException, OSError) as error:
            # Not knowing is not "not sent": try again later rather than risk a second text.
            raise SendError(f"could not ask Twilio whether it went: {error}") from None
        return None


def outbox_adapters(sender: Sender, public_base_url: str) -> dict[str, Adapter]:
    """The relay's adapters for the 'sms' and 'voice' outbox kinds."""
    base = public_base_url.rstrip("/")

    def deliver(channel: str, key: str, payload: dict[str, Any],
                make: Callable[[], str]) -> Delivery:
        try:
            since = payload.get(MAYBE_SENT_SINCE)
            if since:  # a relay died mid-send: ask whether it went before sending again
                found = sender.find_sent(channel, payload["to"], payload.get("body", ""), key,
                                         datetime.fromisoformat(since))
                if found:
                    log.info("outbox %s had gone before its relay died (%s): not sent again",
                             key, found)
                    return Delivery.sent(found)
            sid = make()
        except SendError as error:
            if error.permanent:
                return Delivery.refused(str(error))
            return Delivery.retry(str(error), error.retry_after)
        return Delivery.sent(sid)

    def sms(key: str, payload: dict[str, Any]) -> Delivery:
        return deliver("sms", key, payload, lambda: sender.send_text(
            payload["to"], payload["body"], base + payload["status_path"], key))

    def voice(key: str, payload: dict[str, Any]) -> Delivery:
        return deliver("voice", key, payload, lambda: sender.place_call(
            payload["to"], base + payload["twiml_path"], base + payload["status_path"], key))

    return {"sms": sms, "voice": voice}
