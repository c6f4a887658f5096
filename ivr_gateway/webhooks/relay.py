"""The webhooks relay (`ivr-gateway webhooks relay`): fan the feed out, deliver, repeat.

Its own process, like the council's relay (ecc/relay.py says why): it waits on receivers'
HTTP answers, and a slow receiver must delay neither the scheduler nor the council. Several may
run on PostgreSQL: the dispatcher skips subscriptions another holds, the outbox's leased claims
share the deliveries, and a relay killed mid-send leaves a lease that runs out, so the delivery
is sent again (same webhook-id) rather than lost.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from ivr_gateway.clock import Clock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.outbox.relay import Relay, RelayResult
from ivr_gateway.webhooks.delivery import WebhookSender
from ivr_gateway.webhooks.dispatch import KIND, dispatch_feed

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 1.0


def build_webhook_relay(settings: Settings, database: Database, clock: Clock, *,
                        batch_size: int = 50, lease: timedelta = timedelta(seconds=60),
                        timeout: float = 10.0, worker: str | None = None) -> Relay:
    """A relay with the signed POST as the adapter of the "webhook" kind."""
    sender = WebhookSender(database, lambda: clock.now().timestamp(),
                           settings.token_secret_key, timeout=timeout)
    return Relay(database, clock, {KIND: sender.send}, batch_size=batch_size, lease=lease,
                 worker=worker)


def run_pass(relay: Relay, settings: Settings, database: Database, clock: Clock
             ) -> tuple[int, RelayResult]:
    """One pass: queue the feed's new entries for each subscription, deliver a batch."""
    with database.unit_of_work() as session:
        queued = dispatch_feed(session, settings, clock.now())
    return queued, relay.run_once()


def run_webhook_relay(relay: Relay, settings: Settings, database: Database, clock: Clock, *,
                      interval: float = DEFAULT_INTERVAL, stop: threading.Event | None = None,
                      max_passes: int | None = None) -> None:
    """Deliver until stopped: straight on while there is work, else wait `interval` seconds."""
    stop = stop or threading.Event()
    passes = 0
    while not stop.is_set() and (max_passes is None or passes < max_passes):
        passes += 1
        try:
            queued, result = run_pass(relay, settings, database, clock)
        except Exception:  # the database restarting must not end the process; log and wait
            log.exception("webhooks relay pass failed")
            stop.wait(interval)
            continue
        if queued or result.claimed:
            log.info("webhooks: %d queued, %d claimed, %d sent, %d to retry, %d dead", queued,
                     result.claimed, result.sent, result.retried, result.dead)
        if result.claimed < relay.batch_size and not queued:
            stop.wait(interval)
