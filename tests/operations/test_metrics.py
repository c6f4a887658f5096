"""GET /metrics: protected, and its figures say what happened (webhooks, outbox, alerts)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from ivr_gateway.app import create_app
from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.escalation.models import (
    Alert,
    AlertKind,
    AlertNotification,
    AlertState,
    NotificationChannel,
    NotificationPurpose,
)
from ivr_gateway.operations.metrics import percentile, register_spool_depth
from ivr_gateway.outbox.models import OutboxMessage, OutboxStatus
from ivr_gateway.outbox.service import enqueue
from ivr_gateway.telephony.spool import Spool
from tests.conftest import DEFAULT_NOW as _NOW
from tests.factories import make_adult
from tests.ivr.calls import PlayedCall, new_call_sid
from tests.operations.conftest import METRICS_TOKEN
from tests.twilio_client import TwilioClient

AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, by name and labels."""
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def test_metrics_refuse_a_missing_or_wrong_token(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert METRICS_TOKEN not in wrong.get_data(as_text=True)
    assert client.get("/metrics", headers=AUTH).status_code == 200


def test_metrics_do_not_exist_when_nothing_protects_them(database: Database,
                                                         clock: FixedClock) -> None:
    app = create_app(Settings(database_url=database.url), database, clock)
    assert app.test_client().get("/metrics").status_code == 404


def test_metrics_answer_an_allowed_network_without_a_token(database: Database,
                                                           clock: FixedClock) -> None:
    app = create_app(Settings(database_url=database.url,
                              metrics_allowed_networks=("10.0.0.0/8",)), database, clock)
    client = app.test_client()
    inside = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    outside = client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert inside.status_code == 200
    assert b"ivr_gateway_database_up 1.0" in inside.data
    assert outside.status_code == 404


def test_webhook_latency_and_status_counts_follow_the_calls(
        client: FlaskClient, twilio: TwilioClient, session: Session) -> None:
    make_adult(session)
    session.commit()
    before = scrape(client)
    call = PlayedCall(twilio, new_call_sid(), "+441134960001")
    call.start()
    twilio.post("/twilio/sms", {"MessageSid": "SM" + "1" * 32, "From": "+447700900123",
                                "To": "+441134960000", "Body": "HELP"})
    forged = twilio.post("/twilio/voice", call.params(), signature="forged")
    assert forged.status_code == 403
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("ivr_gateway_webhook_duration_seconds_count", kind="voice") == 2
    assert grew("ivr_gateway_webhook_duration_seconds_count", kind="sms") == 1
    assert grew("ivr_gateway_webhook_duration_seconds_bucket", kind="voice", le="+Inf") == 2
    assert grew("ivr_gateway_webhook_duration_seconds_sum", kind="voice") > 0
    assert grew("ivr_gateway_http_requests_total", kind="voice", status="200") == 1
    assert grew("ivr_gateway_http_requests_total", kind="voice", status="403") == 1
    assert grew("ivr_gateway_http_requests_total", kind="sms", status="200") == 1


def test_outbox_backlog_and_oldest_age_per_kind(client: FlaskClient, session: Session,
                                                clock: FixedClock) -> None:
    now = clock.now()
    enqueue(session, kind="ecc", idempotency_key="a", payload={}, now=now - timedelta(minutes=5))
    enqueue(session, kind="ecc", idempotency_key="b", payload={}, now=now - timedelta(minutes=1))
    enqueue(session, kind="alert_sms", idempotency_key="c", payload={}, now=now)
    session.add(OutboxMessage(kind="ecc", idempotency_key="d", payload={},
                              status=OutboxStatus.DEAD, attempts=9, next_attempt_at=now,
                              created_at=now - timedelta(days=1)))
    session.commit()
    samples = scrape(client)
    assert samples[("ivr_gateway_outbox_messages", (("kind", "ecc"), ("status", "pending")))] == 2
    assert samples[("ivr_gateway_outbox_messages", (("kind", "ecc"), ("status", "dead")))] == 1
    assert samples[("ivr_gateway_outbox_messages",
                    (("kind", "alert_sms"), ("status", "pending")))] == 1
    assert samples[("ivr_gateway_outbox_oldest_pending_age_seconds", (("kind", "ecc"),))] == 300
    assert samples[("ivr_gateway_outbox_oldest_pending_age_seconds",
                    (("kind", "alert_sms"),))] == 0


def _alert(session: Session, number: int, due_minutes_ago: float) -> Alert:
    alert = Alert(number=number, kind=AlertKind.LATE_START, subject_key=f"visit:{number}",
                  summary="J.S. late", state=AlertState.OPEN, level=1,
                  deadline_at=_NOW - timedelta(minutes=due_minutes_ago),
                  raised_at=_NOW - timedelta(minutes=due_minutes_ago))
    session.add(alert)
    session.flush()
    return alert


def _notify(session: Session, alert: Alert, sent_seconds_after_due: float | None) -> None:
    sent_at = (alert.deadline_at + timedelta(seconds=sent_seconds_after_due)
               if sent_seconds_after_due is not None else None)
    message = OutboxMessage(kind="alert_sms", idempotency_key=f"alert:{alert.id}", payload={},
                            status=OutboxStatus.SENT if sent_at else OutboxStatus.PENDING,
                            attempts=1, next_attempt_at=alert.deadline_at,
                            created_at=alert.deadline_at, sent_at=sent_at)
    session.add(message)
    session.flush()
    session.add(AlertNotification(
        alert_id=alert.id, purpose=NotificationPurpose.ALERT, level=1, step="coordinator",
        recipient="S.C.", to_number="+447700900001", channel=NotificationChannel.SMS,
        body="Alert", outbox_key=f"n:{alert.id}", outbox_message_id=message.id,
        created_at=alert.deadline_at))


def test_alert_lag_is_due_to_first_notification_sent(client: FlaskClient, session: Session
                                                     ) -> None:
    for number, lag in ((1, 10), (2, 20), (3, 90)):
        _notify(session, _alert(session, number, due_minutes_ago=30), lag)
    _notify(session, _alert(session, 4, due_minutes_ago=300), 5)  # first sent hours ago
    _notify(session, _alert(session, 5, due_minutes_ago=7), None)  # queued, not yet sent
    _alert(session, 6, due_minutes_ago=3)  # nobody told yet
    session.commit()
    samples = scrape(client)
    assert samples[("ivr_gateway_alert_lag_seconds", (("quantile", "0.5"),))] == 20
    assert samples[("ivr_gateway_alert_lag_seconds", (("quantile", "1.0"),))] == 90
    assert samples[("ivr_gateway_alerts_notified_last_hour", ())] == 3
    assert samples[("ivr_gateway_alerts_unnotified", ())] == 2
    assert samples[("ivr_gateway_alert_unnotified_oldest_seconds", ())] == 7 * 60


def test_spool_depth_counts_what_waits_in_the_outage_spool(
        database: Database, clock: FixedClock, tmp_path: Path) -> None:
    settings = Settings(database_url=database.url, metrics_token=METRICS_TOKEN,
                        spool_dir=tmp_path / "spool")
    client = create_app(settings, database, clock).test_client()
    assert scrape(client)[("ivr_gateway_spool_depth", ())] == 0
    spool = Spool(settings.spool_dir)
    spool.put("text", "SM1", clock.now(), {"From": "+447700900001"}, clock.now())
    spool.put("text", "SM2", clock.now(), {"From": "+447700900002"}, clock.now())
    assert scrape(client)[("ivr_gateway_spool_depth", ())] == 2


def test_a_spool_that_cannot_be_read_leaves_the_other_figures(app: Flask, client: FlaskClient
                                                              ) -> None:
    def broken() -> int:
        raise OSError("spool directory gone")

    register_spool_depth(app, broken)
    samples = scrape(client)
    assert ("ivr_gateway_spool_depth", ()) not in samples
    assert samples[("ivr_gateway_database_up", ())] == 1


def test_metrics_answer_while_the_database_is_down(tmp_path: Path,
                                                   clock: FixedClock) -> None:
    missing = Database(f"sqlite:///{tmp_path}/no-such-dir/x.sqlite3")
    app = create_app(Settings(database_url=missing.url, metrics_token=METRICS_TOKEN), missing,
                     clock)
    samples = scrape(app.test_client())
    assert samples[("ivr_gateway_database_up", ())] == 0


def test_percentile_is_the_nearest_rank() -> None:
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(n) for n in range(1, 101)], 0.99) == 99.0
    assert percentile([5.0], 0.99) == 5.0
