"""GET /metrics for Prometheus: webhook latency, request counts, outbox backlog and age, alert
lag, spool depth.

Two kinds of figure, each made where it is true under several gunicorn workers:
- **What a worker saw** (webhook latency histogram per kind, requests by kind and status) lives
  in the worker. With ``PROMETHEUS_MULTIPROC_DIR`` set (an empty directory, made afresh before
  gunicorn starts; see docs/deployment.md) the client library keeps each worker's figures in
  files there and any worker's /metrics adds them all up. Without it, a worker reports only its
  own (fine for one process: the demo, the tests).
- **What the database knows** (outbox backlog and oldest age per kind, alert lag, spool depth)
  is computed at scrape time, from the database, by whichever worker is scraped: the same answer
  from every worker, nothing to add up, never stale, and nothing kept in step between processes.
  A scrape costs a few indexed aggregate queries.

Protected: a bearer token (METRICS_TOKEN) or a source address in METRICS_ALLOWED_ADDRESSES;
with neither configured /metrics does not exist (404); a wrong or missing token is a 401.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from ivr_gateway import extensions
from ivr_gateway.config import Settings
from ivr_gateway.escalation.models import Alert, AlertNotification, AlertState
from ivr_gateway.operations.request_log import WEBHOOK_KINDS
from ivr_gateway.outbox.models import OutboxMessage, OutboxStatus
from ivr_gateway.telephony.spool import Spool

# Twilio gives up on a webhook at 15 s; the buckets are finest where a carer notices.
WEBHOOK_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0)
# Not registered in a global registry: each scrape builds its own (see _registry), so a test
# process with many apps, or a multiprocess scrape, sees each figure once.
WEBHOOK_SECONDS = Histogram(
    "ivr_gateway_webhook_duration_seconds",
    "Time to answer a Twilio webhook, by kind (voice step, sms, status callback, alert call)",
    ["kind"], buckets=WEBHOOK_BUCKETS, registry=None)
REQUESTS = Counter(
    "ivr_gateway_http_requests", "Requests answered, by kind of path and HTTP status",
    ["kind", "status"], registry=None)

# Alert lag is read over the alerts first notified in this window (a rate, not all history).
ALERT_LAG_WINDOW = timedelta(hours=1)
# Alerts still waiting for their first notification are looked for among those raised this
# recently (an open alert nobody could be told about stays open; the board shows it).
UNNOTIFIED_WINDOW = timedelta(days=1)

SpoolDepth = Callable[[], int]
SPOOL_DEPTH_EXTENSION = "spool_depth"

blueprint = Blueprint("metrics", __name__)
log = logging.getLogger(__name__)


def observe_request(kind: str, status: int, seconds: float) -> None:
    """Count an answered request; time it too if it was one of Twilio's webhooks."""
    REQUESTS.labels(kind=kind, status=str(status)).inc()
    if kind in WEBHOOK_KINDS:
        WEBHOOK_SECONDS.labels(kind=kind).observe(seconds)


def register_spool_depth(app: Flask, spool_depth: SpoolDepth) -> None:
    """The hook for the outage spool: how many webhooks wait on local disk to be replayed."""
    app.extensions[SPOOL_DEPTH_EXTENSION] = spool_depth


def _outage_spool_depth(settings: Settings) -> SpoolDepth:
    """How many calls and texts wait in this host's outage spool (telephony/spool.py)."""
    spool = Spool(settings.spool_dir)
    return lambda: spool.depth().depth


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of some values (at least one)."""
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time: the same from every worker."""

    def __init__(self, now: datetime, spool_depth: SpoolDepth | None) -> None:
        self.now = now
        self.spool_depth = spool_depth

    def collect(self) -> Iterator[Metric]:
        """Outbox, alert and spool gauges; database_up 0 (and nothing else) if it is down."""
        up = GaugeMetricFamily("ivr_gateway_database_up",
                               "1 if the scrape could read the database")
        try:
            metrics = list(self._from_database())
        except Exception:  # a scrape must answer while the database is down: say so instead
            up.add_metric([], 0)
            metrics = []
        else:
            up.add_metric([], 1)
        yield up
        yield from metrics
        if self.spool_depth is not None:
            try:
                depth = self.spool_depth()
            except Exception:  # the spool's own fault must not take the other figures down
                log.exception("could not read the spool's depth")
                return
            spool = GaugeMetricFamily("ivr_gateway_spool_depth",
                                      "Webhooks kept on local disk during an outage, not yet "
                                      "replayed into the database")
            spool.add_metric([], depth)
            yield spool

    def _from_database(self) -> Iterator[Metric]:
        now = self.now
        with extensions.database().sessionmaker() as session:
            backlog = GaugeMetricFamily("ivr_gateway_outbox_messages",
                                        "Outbox messages waiting (pending) or given up (dead)",
                                        labels=["kind", "status"])
            for kind, status, count in session.execute(
                    select(OutboxMessage.kind, OutboxMessage.status, func.count())
                    .where(OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.DEAD]))
                    .group_by(OutboxMessage.kind, OutboxMessage.status)):
                backlog.add_metric([kind, OutboxStatus(status).value], count)
            yield backlog
            oldest = GaugeMetricFamily("ivr_gateway_outbox_oldest_pending_age_seconds",
                                       "Age of the oldest pending outbox message, by kind",
                                       labels=["kind"])
            for kind, created_at in session.execute(
                    select(OutboxMessage.kind, func.min(OutboxMessage.created_at))
                    .where(OutboxMessage.status == OutboxStatus.PENDING)
                    .group_by(OutboxMessage.kind)):
                oldest.add_metric([kind], max(0.0, (now - created_at).total_seconds()))
            yield oldest
            yield from self._alert_lag(session)

    def _alert_lag(self, session: Any) -> Iterator[Metric]:
        now = self.now
        first_sent = (
            select(AlertNotification.alert_id.label("alert_id"),
                   func.min(OutboxMessage.sent_at).label("first_sent"))
            .join(OutboxMessage, OutboxMessage.id == AlertNotification.outbox_message_id)
            .where(OutboxMessage.sent_at.is_not(None))
            .group_by(AlertNotification.alert_id)
            .subquery())
        lags = [
            max(0.0, (sent - due).total_seconds())
            for due, sent in session.execute(
                select(Alert.deadline_at, first_sent.c.first_sent)
                .join(first_sent, first_sent.c.alert_id == Alert.id)
                .where(Alert.raised_at >= now - ALERT_LAG_WINDOW - UNNOTIFIED_WINDOW))
            if sent >= now - ALERT_LAG_WINDOW]
        lag = GaugeMetricFamily(
            "ivr_gateway_alert_lag_seconds",
            "Alert deadline to its first notification sent, over the alerts first notified in "
            "the last hour (quantile 1 is the longest)", labels=["quantile"])
        if lags:
            for quantile in (0.5, 0.99, 1.0):
                lag.add_metric([str(quantile)], percentile(lags, quantile))
        yield lag
        notified = GaugeMetricFamily("ivr_gateway_alerts_notified_last_hour",
                                     "Alerts whose first notification went in the last hour")
        notified.add_metric([], len(lags))
        yield notified
        waiting = list(session.scalars(
            select(Alert.deadline_at)
            .outerjoin(first_sent, first_sent.c.alert_id == Alert.id)
            .where(Alert.state == AlertState.OPEN, first_sent.c.first_sent.is_(None),
                   Alert.raised_at >= now - UNNOTIFIED_WINDOW, Alert.deadline_at <= now)))
        unnotified = GaugeMetricFamily(
            "ivr_gateway_alerts_unnotified",
            "Open alerts past their deadline (raised in the last day) with no notification sent")
        unnotified.add_metric([], len(waiting))
        yield unnotified
        oldest = GaugeMetricFamily(
            "ivr_gateway_alert_unnotified_oldest_seconds",
            "How long the longest-waiting of those has waited since its deadline (0: none)")
        oldest.add_metric([], max(((now - due).total_seconds() for due in waiting), default=0))
        yield oldest


def _registry(now: datetime, spool_depth: SpoolDepth | None) -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every worker's histograms and counters, from the files they write there.
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(WEBHOOK_SECONDS)
        registry.register(REQUESTS)
    registry.register(DatabaseCollector(now, spool_depth))
    return registry


def _allowed(settings: Settings) -> None:
    """Abort unless the scraper shows the token or comes from an allowed network."""
    token = settings.metrics_token
    networks = settings.metrics_allowed_networks
    if not token and not networks:
        abort(404)  # not configured: nothing here
    if token:
        given = request.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return
    if networks and request.remote_addr:
        try:
            address = ipaddress.ip_address(request.remote_addr)
        except ValueError:
            address = None
        if address is not None and any(address in ipaddress.ip_network(network)
                                       for network in networks):
            return
    if token:
        abort(Response("A bearer token is needed (METRICS_TOKEN).\n", status=401,
                       headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                       mimetype="text/plain"))
    abort(404)


@blueprint.get("/metrics")
def metrics() -> Response:
    """The Prometheus exposition of every figure above."""
    _allowed(extensions.settings())
    spool_depth = current_app.extensions.get(SPOOL_DEPTH_EXTENSION)
    body = generate_latest(_registry(extensions.clock().now(), spool_depth))
    return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})


def init_metrics(app: Flask) -> None:
    """Serve /metrics and find the spool's depth if the spool package is there."""
    app.register_blueprint(blueprint)
    if SPOOL_DEPTH_EXTENSION not in app.extensions:
        register_spool_depth(app, _outage_spool_depth(extensions_settings(app)))


def extensions_settings(app: Flask) -> Settings:
    """The settings the app factory stored (outside a request)."""
    settings: Settings = app.extensions["settings"]
    return settings
