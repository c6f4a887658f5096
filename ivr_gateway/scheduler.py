"""The scheduler process (Procfile `scheduler`): short, idempotent jobs on an explicit zone.

Never started inside web workers. Each job reads and writes the database only, so a restart
loses nothing. Council forwarding is not here: it runs as its own process (`ivr-gateway relay`),
so a slow council never delays an escalation tick (see ivr_gateway/ecc/relay.py).
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from ivr_gateway.clock import Clock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.escalation.jobs import (
    SENDER_SECONDS,
    alert_relay,
    build_sender,
    run_alert_sender,
)
from ivr_gateway.escalation.tick import run_escalation_tick
from ivr_gateway.housekeeping import purge_pin_failures
from ivr_gateway.outage.replay import REPLAY_SECONDS, run_spool_replay
from ivr_gateway.telephony.senders import Sender

log = logging.getLogger(__name__)


def run_housekeeping(database: Database, clock: Clock) -> int:
    """One housekeeping tick."""
    with database.unit_of_work() as session:
        purged = purge_pin_failures(session, clock.now())
    if purged:
        log.info("purged %d old wrong-PIN records", purged)
    return purged


def build_scheduler(settings: Settings, database: Database, clock: Clock, *,
                    sender: Sender | None = None, background: bool = False) -> BaseScheduler:
    """The scheduler with every job, in the configured time zone (background: for the demo)."""
    scheduler: BaseScheduler = (BackgroundScheduler(timezone=settings.tz) if background
                                else BlockingScheduler(timezone=settings.tz))
    scheduler.add_job(run_housekeeping, "interval", hours=1, args=[database, clock],
                      id="housekeeping", max_instances=1, coalesce=True,
                      next_run_time=clock.now())
    # The outage spool (carers' calls and texts kept on disk while the database was down):
    # replayed in order as soon as the database answers again.
    scheduler.add_job(run_spool_replay, "interval", seconds=REPLAY_SECONDS,
                      args=[database, settings, clock], id="spool_replay", max_instances=1,
                      coalesce=True, next_run_time=clock.now())
    relay = alert_relay(database, settings, clock, sender or build_sender(settings))
    # The tick decides and queues; the sender sends. Two jobs, so a tick never waits on Twilio
    # and a slow Twilio never delays the next tick (APScheduler runs them in its thread pool).
    scheduler.add_job(run_escalation_tick, "interval", seconds=settings.escalation.tick_seconds,
                      args=[database, settings, clock], id="escalation",
                      max_instances=1, coalesce=True, next_run_time=clock.now())
    scheduler.add_job(run_alert_sender, "interval", seconds=SENDER_SECONDS, args=[relay],
                      id="alert-sender", max_instances=1, coalesce=True,
                      next_run_time=clock.now())
    return scheduler
