"""The council client against the mock council: each kind of answer becomes the right Delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from ivr_gateway.ecc.client import EccClient, parse_retry_after
from tests.ecc.conftest import MOCK_TOKEN, MockCouncil


def _record(record_id: str = "A1", sequence_id: int = 1, **data: Any) -> dict[str, Any]:
    body = {"person_ref": record_id, "client_number": "100001", "given_name": "Joan",
            "family_name": "Smith", "address": "", "postcode": "", "landlines": [],
            "rag": "green", "active": True, **data}
    return {"schema_version": "1.0", "record_type": "adult", "record_id": record_id,
            "sequence_id": sequence_id,
            "idempotency_key": f"ecc:adult:{record_id}:{sequence_id}",
            "generated_at": "2026-01-13T09:00:00Z", "data": body}


def _items(*records: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(r["idempotency_key"], r) for r in records]


def test_a_record_sent_twice_is_the_same_success_and_stored_once(
        mock_council: MockCouncil) -> None:
    client = EccClient(mock_council.url, MOCK_TOKEN)
    first = client.send_batch(_items(_record()))
    again = client.send_batch(_items(_record()))
    assert [d.ok for d in first + again] == [True, True]
    assert mock_council.keys() == ["ecc:adult:A1:1"]
    assert mock_council.store.stats()["deliveries"] == {"accepted": 1, "duplicate": 1}


def test_a_stale_version_is_refused_by_the_council_and_counts_as_delivered(
        mock_council: MockCouncil) -> None:
    client = EccClient(mock_council.url, MOCK_TOKEN)
    assert client.send_batch(_items(_record(sequence_id=2)))[0].ok
    (stale,) = client.send_batch(_items(_record(sequence_id=1, given_name="Old")))
    assert stale.ok  # the council holds a newer, complete version
    assert mock_council.keys() == ["ecc:adult:A1:2"]
    assert mock_council.store.stats()["deliveries"]["stale"] == 1


def test_an_invalid_record_is_refused_with_the_councils_message_and_the_rest_accepted(
        mock_council: MockCouncil) -> None:
    client = EccClient(mock_council.url, MOCK_TOKEN)
    bad = _record("A2", rag="purple")
    good, refused = client.send_batch(_items(_record("A1"), bad))
    assert good.ok
    assert not refused.ok and refused.permanent
    assert "validation_error" in refused.error and "purple" in refused.error
    assert mock_council.keys() == ["ecc:adult:A1:1"]


def test_a_wrong_token_is_retried_not_dead_lettered(mock_council: MockCouncil) -> None:
    (delivery,) = EccClient(mock_council.url, "wrong").send_batch(_items(_record()))
    assert not delivery.ok and not delivery.permanent
    assert "ECC_API_TOKEN" in delivery.error
    assert mock_council.keys() == []


def test_429_and_outage_answers_carry_the_councils_retry_after(mock_council: MockCouncil) -> None:
    client = EccClient(mock_council.url, MOCK_TOKEN)
    mock_council.set_faults(rate_limit=1.0, retry_after=7)
    (limited,) = client.send_batch(_items(_record()))
    assert not limited.ok and not limited.permanent and limited.unavailable
    assert limited.retry_after == timedelta(seconds=7)
    mock_council.set_faults(rate_limit=0.0, down=True, retry_after=3)
    (down,) = client.send_batch(_items(_record()))
    assert "503" in down.error and down.retry_after == timedelta(seconds=3)
    mock_council.set_faults(down=False, error_rate=1.0)
    (error,) = client.send_batch(_items(_record()))
    assert "500" in error.error and not error.permanent and error.retry_after is None
    assert down.unavailable and error.unavailable  # the council's health, not the record's
    assert mock_council.keys() == []


def test_a_slow_council_is_a_timeout_to_retry(mock_council: MockCouncil) -> None:
    mock_council.set_faults(latency_ms=400)
    (delivery,) = EccClient(mock_council.url, MOCK_TOKEN, timeout=0.1).send_batch(
        _items(_record()))
    assert not delivery.ok and not delivery.permanent
    assert "within 0.1 s" in delivery.error


def test_nothing_listening_is_a_failure_to_retry() -> None:
    from tests.live_server import free_port

    client = EccClient(f"http://127.0.0.1:{free_port()}/api/v1", MOCK_TOKEN, timeout=1)
    (delivery,) = client.send_batch(_items(_record()))
    assert not delivery.ok and not delivery.permanent
    assert "could not reach the council" in delivery.error


def test_mock_refuses_a_body_that_is_not_a_batch(mock_council: MockCouncil) -> None:
    headers = {"Authorization": f"Bearer {MOCK_TOKEN}"}
    response = requests.post(mock_council.url + "/records", json=[_record()], headers=headers,
                             timeout=5)
    assert response.status_code == 400
    assert "records" in response.json()["error"]["message"]
    response = requests.post(mock_council.url + "/records", json={"records": [_record()]},
                             timeout=5)
    assert response.status_code == 401


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    now = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
    assert parse_retry_after("120") == timedelta(seconds=120)
    assert parse_retry_after("Tue, 13 Jan 2026 09:00:30 GMT", now) == timedelta(seconds=30)
    assert parse_retry_after("Tue, 13 Jan 2026 08:59:00 GMT", now) == timedelta(0)
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_an_http_date_retry_after_is_read_against_the_councils_own_date() -> None:
    ours = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
    # The council's clock is five minutes behind ours: its date means 30 s from its Date.
    assert parse_retry_after("Tue, 13 Jan 2026 08:55:30 GMT", ours,
                             date="Tue, 13 Jan 2026 08:55:00 GMT") == timedelta(seconds=30)
    assert parse_retry_after("Tue, 13 Jan 2026 08:55:30 GMT", ours,
                             date="not a date") == timedelta(0)  # falls back to our clock


def test_408_and_an_http_date_retry_after_wait_for_the_council_not_dead_letter() -> None:
    from email.utils import format_datetime

    from flask import Flask, Response

    from tests.live_server import serving

    app = Flask("council-answering-408")
    statuses = [408, 503]

    @app.post("/api/v1/records")
    def records() -> Response:
        # The server stamps its own Date; the Retry-After date is two minutes after it.
        later = format_datetime(datetime.now(UTC) + timedelta(minutes=2), usegmt=True)
        return Response("{}", status=statuses.pop(0), headers={"Retry-After": later},
                        mimetype="application/json")

    with serving(app) as base:
        client = EccClient(base + "/api/v1", MOCK_TOKEN)
        (timeout,) = client.send_batch(_items(_record()))
        (unavailable,) = client.send_batch(_items(_record()))
    assert timeout.unavailable and not timeout.permanent and "408" in timeout.error
    assert unavailable.unavailable and unavailable.retry_after is not None
    assert timedelta(seconds=118) <= unavailable.retry_after <= timedelta(seconds=121)
