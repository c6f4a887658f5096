"""Senders: the Twilio REST sender's calls and error handling, the recording sender, adapters."""

from __future__ import annotations

from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from ivr_gateway.outbox.relay import Delivery
from ivr_gateway.telephony.senders import RecordingSender, TwilioSender, outbox_adapters


class FakeResource:
    """Stands in for client.messages / client.calls: records create() and answers as told."""

    def __init__(self, error: Exception | None = None) -> None:
        self.created: list[dict[str, Any]] = []
        self.error = error

    def create(self, **kwargs: Any) -> Any:
        self.created.append(kwargs)
        if self.error is not None:
            raise self.error
        return type("Instance", (), {"sid": "SM123"})()


class FakeClient:
    """A twilio.rest.Client double with messages and calls."""

    def __init__(self, error: Exception | None = None) -> None:
        self.messages = FakeResource(error)
        self.calls = FakeResource(error)


def test_twilio_sender_sends_texts_and_calls_with_status_callbacks() -> None:
    client = FakeClient()
    adapters = outbox_adapters(TwilioSender("AC1", "t", "+441134960000", client=client),
                               "https://gw.example.org/")
    sms = adapters["sms"]("k1", {"to": "+447911123501", "body": "EHM alert 1000: ...",
                                 "status_path": "/twilio/status?notification=1"})
    voice = adapters["voice"]("k2", {"to": "+447911123501", "status_path":
                                     "/twilio/status?notification=2",
                                     "twiml_path": "/twilio/alert-call/2?token=abc"})
    assert sms == Delivery.sent("SM123") and voice == Delivery.sent("SM123")  # Twilio's SID
    assert client.messages.created == [{
        "to": "+447911123501", "from_": "+441134960000", "body": "EHM alert 1000: ...",
        "status_callback": "https://gw.example.org/twilio/status?notification=1"}]
    [call] = client.calls.created
    assert call["url"] == "https://gw.example.org/twilio/alert-call/2?token=abc"
    assert call["status_callback"] == "https://gw.example.org/twilio/status?notification=2"


@pytest.mark.parametrize(("status", "permanent"), [(400, True), (404, True), (429, False),
                                                   (500, False), (503, False)])
def test_twilio_errors_are_retried_or_refused_by_status(status: int, permanent: bool) -> None:
    error = TwilioRestException(status, "/Messages.json", "nope", code=21211)
    adapter = outbox_adapters(TwilioSender("AC1", "t", "+441134960000",
                                           client=FakeClient(error)), "https://gw")["sms"]
    delivery = adapter("k", {"to": "+447911123501", "body": "x", "status_path": "/s"})
    assert not delivery.ok and delivery.permanent is permanent
    assert "21211" in delivery.error


def test_a_network_error_is_retried() -> None:
    adapter = outbox_adapters(TwilioSender("AC1", "t", "+44", client=FakeClient(OSError("down"))),
                              "https://gw")["sms"]
    delivery = adapter("k", {"to": "+447911123501", "body": "x", "status_path": "/s"})
    assert not delivery.ok and not delivery.permanent


def test_recording_sender_prints_what_it_would_send(tmp_path) -> None:
    printed: list[str] = []
    sender = RecordingSender(echo=printed.append, log_file=tmp_path / "sent.jsonl")
    sender.send_text("+447911123501", "EHM alert 1000: hello", "/cb", "k1")
    assert printed == ["[TEXT to +447911123501] EHM alert 1000: hello"]
    assert len((tmp_path / "sent.jsonl").read_text().splitlines()) == 1
