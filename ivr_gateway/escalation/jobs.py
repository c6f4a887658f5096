"""The scheduler's escalation jobs: the tick, and the alert sender draining the outbox.

The tick only decides and queues (one transaction, no remote call), so it never waits on Twilio.
The sender is its own job in the scheduler process (every few seconds, alongside the tick, in
APScheduler's thread pool): the relay for the 'sms' and 'voice' outbox kinds, sending several
messages at once. It claims with SKIP LOCKED and short leases, so a second scheduler shares the
work safely, and a message whose holder died waits half a minute, not two, before another relay
asks Twilio whether it went (senders.py) and sends it only if not. The council relay (kind
'ecc') is left to its own process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from ivr_gateway.clock import Clock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.escalation.delivery import record_dead_letter, record_sent
from ivr_gateway.outbox.relay import Delivery, Relay
from ivr_gateway.telephony.senders import (
    RecordingSender,
    Sender,
    TwilioSender,
    outbox_adapters,
)

log = logging.getLogger(__name__)
MAX_RELAY_PASSES = 20
# A batch of ALERT_BATCH sent SEND_THREADS at a time takes a few of Twilio's ~150 ms answers (at
# worst a few of the sender's 10 s timeouts), well inside the lease.
ALERT_LEASE = timedelta(seconds=30)
ALERT_BATCH = 20
SEND_THREADS = 8
SENDER_SECONDS = 2  # how often the sender job looks for alert messages


def build_sender(settings: Settings, echo: Callable[[str], None] | None = None) -> Sender:
    """The sender the settings ask for (ALERT_SENDER): Twilio, or the recording one."""
    if settings.escalation.sender == "twilio":
        return TwilioSender(settings.twilio_account_sid, settings.twilio_auth_token,
                            settings.twilio_phone_number)
    return RecordingSender(echo=echo or (lambda line: log.info("would send: %s", line)))


def alert_relay(database: Database, settings: Settings, clock: Clock, sender: Sender, *,
                lease: timedelta = ALERT_LEASE, concurrency: int = SEND_THREADS) -> Relay:
    """The outbox relay for alert texts and calls; a dead letter moves the alert on, and each
    accepted message marks its notification sent."""

    def on_dead(kind: str, payload: dict[str, Any], error: str) -> None:
        with database.unit_of_work() as session:
            record_dead_letter(session, payload, error, clock.now())

    def on_sent(session: Session, delivered: list[tuple[dict[str, Any], Delivery]]) -> None:
        record_sent(session, delivered, clock.now())

    return Relay(database, clock, outbox_adapters(sender, settings.public_base_url),
                 on_dead=on_dead, on_sent=on_sent, lease=lease, batch_size=ALERT_BATCH,
                 concurrency=concurrency)


def run_alert_sender(relay: Relay) -> int:
    """Drain the alert messages that are due (a bounded number of passes); return how many."""
    claimed = 0
    for _ in range(MAX_RELAY_PASSES):
        passed = relay.run_once().claimed
        claimed += passed
        if passed == 0:
            break
    return claimed
