"""Every request has an id (echoed, on every log line); webhook lines carry the CallSid or
MessageSid; no line carries a PIN, a code or a full name."""

from __future__ import annotations

import json
import logging
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from ivr_gateway.log_format import JsonFormatter, configure_logging, formatter_for
from tests.factories import make_adult, make_care_worker
from tests.ivr.calls import PlayedCall, new_call_sid
from tests.twilio_client import TwilioClient


def json_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    """What the JSON log would have written for every captured record."""
    formatter = JsonFormatter()
    return [json.loads(formatter.format(record)) for record in caplog.records]


def test_a_request_gets_an_id_echoed_in_the_response(client: FlaskClient) -> None:
    first = client.get("/healthz").headers["X-Request-Id"]
    second = client.get("/healthz").headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second


def test_an_incoming_request_id_is_kept_and_a_malformed_one_replaced(client: FlaskClient
                                                                     ) -> None:
    kept = client.get("/healthz", headers={"X-Request-Id": "lb-7f3a.42"})
    assert kept.headers["X-Request-Id"] == "lb-7f3a.42"
    forged = client.get("/healthz", headers={"X-Request-Id": "x" * 500})
    assert forged.headers["X-Request-Id"] != "x" * 500
    assert len(forged.headers["X-Request-Id"]) == 32


def test_a_webhook_logs_its_twilio_idempotency_token_and_call_sid_but_never_the_pin(
        client: FlaskClient, twilio: TwilioClient, session: Session,
        caplog: pytest.LogCaptureFixture) -> None:
    make_adult(session, given_name="Joan", family_name="Smithereens")
    make_care_worker(session, staff_number="1234", pin="4721", given_name="Amy",
                     family_name="Jonesworth")
    session.commit()
    caplog.set_level(logging.INFO)
    call = PlayedCall(twilio, new_call_sid(), "+441134960001")
    call.start()
    call.press("1234")
    client.environ_base["HTTP_I_TWILIO_IDEMPOTENCY_TOKEN"] = "idem-token-0001"
    answer = call.press("4721")
    assert answer.response.headers["X-Request-Id"] == "idem-token-0001"
    lines = json_lines(caplog)
    webhook_lines = [line for line in lines if line["logger"] == "ivr_gateway.requests"]
    assert [line["kind"] for line in webhook_lines] == ["voice", "voice", "voice"]
    assert all(line["call_sid"] == call.call_sid for line in webhook_lines)
    assert webhook_lines[-1]["request_id"] == "idem-token-0001"
    assert webhook_lines[-1]["status"] == 200 and "duration_ms" in webhook_lines[-1]
    written = "\n".join(json.dumps(line) for line in lines)
    assert "4721" not in written  # the PIN
    assert "Smithereens" not in written and "Jonesworth" not in written


def test_a_text_logs_its_message_sid_but_never_its_code(
        client: FlaskClient, twilio: TwilioClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    sid = "SM" + "7" * 32
    twilio.post("/twilio/sms", {"MessageSid": sid, "From": "+447700900123",
                                "To": "+441134960000", "Body": "IN 918273"})
    line = next(line for line in json_lines(caplog) if line["logger"] == "ivr_gateway.requests")
    assert line["message_sid"] == sid and line["kind"] == "sms"
    assert "918273" not in json.dumps(json_lines(caplog))


def test_records_made_while_serving_carry_the_request_id(
        client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    response = client.get("/healthz", headers={"X-Request-Id": "req-1"})
    assert response.status_code == 200
    assert {record.request_id for record in caplog.records  # type: ignore[attr-defined]
            if record.name == "ivr_gateway.requests"} == {"req-1"}
    logging.getLogger("ivr_gateway.elsewhere").info("outside any request")
    assert caplog.records[-1].request_id is None  # type: ignore[attr-defined]


def test_the_json_format_is_one_object_a_line_and_the_text_format_readable(
        capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("json")
        logging.getLogger("ivr_gateway.test").warning("relay: %d sent", 3)
        configure_logging("text")
        logging.getLogger("ivr_gateway.test").warning("plain")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    first, second = capsys.readouterr().err.strip().splitlines()
    entry = json.loads(first)
    assert entry["message"] == "relay: 3 sent" and entry["level"] == "warning"
    assert entry["time"].endswith("+00:00")
    assert second.endswith("WARNING ivr_gateway.test plain")
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        formatter_for("xml")
