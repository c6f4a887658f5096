"""A scheduler as a real process, for the kill/restart and two-scheduler tests.

    python -m tests.escalation.scheduler_process URL --start ISO --ticks N [--pause before_commit]

Runs N iterations of the escalation job (tick, then relay) on a clock that is either fixed at
--start (one minute per iteration) or, with --speed, runs from --start at that many fake seconds
per real second since --epoch (so two processes share one fake time). Sends with the recording
sender appending to --sent-log. --pause before_commit|before_relay writes --marker and sleeps
until killed at that point of the first tick.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr_gateway.clock import FixedClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.escalation.jobs import alert_relay
from ivr_gateway.escalation.tick import run_escalation_tick
from ivr_gateway.telephony.senders import RecordingSender


class ScaledClock:
    """Fake time shared by processes: start + (real seconds since epoch) x speed."""

    def __init__(self, start: datetime, epoch: float, speed: float) -> None:
        self.start, self.epoch, self.speed = start, epoch, speed

    def now(self) -> datetime:
        """The shared fake instant."""
        return self.start + timedelta(seconds=(time.time() - self.epoch) * self.speed)


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--start", required=True)
    parser.add_argument("--ticks", type=int, default=1)
    parser.add_argument("--sent-log", required=True)
    parser.add_argument("--pause", choices=["before_commit", "before_relay"])
    parser.add_argument("--marker")
    parser.add_argument("--speed", type=float, default=0)
    parser.add_argument("--epoch", type=float, default=0)
    parser.add_argument("--sleep", type=float, default=0)
    args = parser.parse_args()
    start = datetime.fromisoformat(args.start).astimezone(UTC)
    clock: FixedClock | ScaledClock = (ScaledClock(start, args.epoch, args.speed) if args.speed
                                       else FixedClock(start))
    database = Database(args.url)
    settings = Settings(database_url=args.url)
    sender = RecordingSender(log_file=Path(args.sent_log))
    relay = alert_relay(database, settings, clock, sender, lease=timedelta(hours=1))

    def pause() -> None:
        Path(args.marker).write_text("paused")
        time.sleep(3600)

    ran = skipped = 0
    for i in range(args.ticks):
        hook = pause if (i == 0 and args.pause == "before_commit") else None
        result = run_escalation_tick(database, settings, clock, before_commit=hook)
        ran += 1
        skipped += result.skipped
        if i == 0 and args.pause == "before_relay":
            pause()
        while relay.run_once().claimed:
            pass
        if isinstance(clock, FixedClock):
            clock.advance(minutes=1)
        time.sleep(args.sleep)
    print(f"ticks={ran} skipped={skipped}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
