"""The scheduler's escalation job: one tick, then the alert messages out through the relay.

The relay for the 'sms' and 'voice' outbox kinds runs in the scheduler process, right after the
tick: an alert then leaves within one tick interval of its deadline, with no second process to
deploy. The relay claims with SKIP LOCKED and leases, so a second scheduler (or a separate relay
process later) shares the work safely; the council relay (kind 'ecc') is left to its own job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from ivr_gateway.clock import Clock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.escalation.delivery import record_dead_letter
from ivr_gateway.escalation.tick import TickResult, run_escalation_tick
from ivr_gateway.outbox.relay import Relay
from ivr_gateway.telephony.senders import (
    RecordingSender,
    Sender,
    TwilioSender,
    outbox_adapters,
)

log = logging.getLogger(__name__)
MAX_RELAY_PASSES = 20


def build_sender(settings: Settings, echo: Callable[[str], None] | None = None) -> Sender:
    """The sender the settings ask for (ALERT_SENDER): Twilio, or the recording one."""
    if settings.escalation.sender == "twilio":
        return TwilioSender(settings.twilio_account_sid, settings.twilio_auth_token,
                            settings.twilio_phone_number)
    return RecordingSender(echo=echo or (lambda line: log.info("would send: %s", line)))


def alert_relay(database: Database, settings: Settings, clock: Clock, sender: Sender, *,
                lease: timedelta = timedelta(minutes=2)) -> Relay:
    """The outbox relay for alert texts and calls; a dead letter moves the alert on."""

    def on_dead(kind: str, payload: dict[str, Any], error: str) -> None:
        with database.unit_of_work() as session:
            record_dead_letter(session, payload, error, clock.now())

    return Relay(database, clock, outbox_adapters(sender, settings.public_base_url),
                 on_dead=on_dead, lease=lease)


def run_escalation_job(database: Database, settings: Settings, clock: Clock, relay: Relay,
                       ) -> TickResult:
    """One tick, then drain the alert messages that are due."""
    result = run_escalation_tick(database, settings, clock)
    for _ in range(MAX_RELAY_PASSES):
        if relay.run_once().claimed == 0:
            break
    return result
