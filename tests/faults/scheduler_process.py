"""The scheduler's escalation job as a real process on a shared fake clock, for the fault suite.

    python -m tests.faults.scheduler_process URL --start ISO --epoch T --speed X --until ISO
        --sent-log FILE [--pause-after-send N --marker FILE]

Runs what `ivr-gateway scheduler` runs (the escalation tick, then the alert sender's relay with
its production lease: ivr_gateway.escalation.jobs) as fast as it can,
until the fake time reaches --until. Fake time is --start plus the real seconds since --epoch
times --speed, so processes started one after another share one morning. Texts and calls go to
the recording sender, appended to --sent-log. --pause-after-send N: after the Nth send is
recorded (it has left the building) and before the relay marks it sent, write --marker and
sleep, to be killed there.
"""

from __future__ import annotations

import argparse
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.escalation.jobs import alert_relay, run_alert_sender
from ivr_gateway.escalation.tick import run_escalation_tick
from ivr_gateway.telephony.senders import RecordingSender
from tests.escalation.scheduler_process import ScaledClock


class PausingSender(RecordingSender):
    """The recording sender, stopping for good after its Nth send.

    The relay sends on several threads at once; the sends pass one at a time through a gate,
    and the pause holds the gate, so exactly N have left when the scheduler is killed."""

    def __init__(self, log_file: Path, pause_after: int, marker: Path | None) -> None:
        super().__init__(log_file=log_file)
        self.pause_after, self.marker = pause_after, marker
        self.gate = threading.Lock()

    def send_text(self, to: str, body: str, status_callback: str, key: str) -> str:
        """Record the text; pause after the Nth."""
        with self.gate:
            sid = super().send_text(to, body, status_callback, key)
            self._maybe_pause()
            return sid

    def place_call(self, to: str, twiml_url: str, status_callback: str, key: str) -> str:
        """Record the call; pause after the Nth."""
        with self.gate:
            sid = super().place_call(to, twiml_url, status_callback, key)
            self._maybe_pause()
            return sid

    def _maybe_pause(self) -> None:
        if self.pause_after and len(self.sent) == self.pause_after and self.marker:
            self.marker.write_text("sent, not yet marked sent")
            time.sleep(3600)  # holding the gate: no other send leaves


def main() -> None:
    """Parse arguments and tick until the fake time is up."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--start", required=True)
    parser.add_argument("--epoch", type=float, required=True)
    parser.add_argument("--speed", type=float, required=True)
    parser.add_argument("--until", required=True)
    parser.add_argument("--sent-log", required=True)
    parser.add_argument("--pause-after-send", type=int, default=0)
    parser.add_argument("--marker")
    args = parser.parse_args()
    clock = ScaledClock(datetime.fromisoformat(args.start).astimezone(UTC), args.epoch,
                        args.speed)
    until = datetime.fromisoformat(args.until).astimezone(UTC)
    database = Database(args.url)
    settings = Settings(database_url=args.url)
    sender = PausingSender(Path(args.sent_log), args.pause_after_send,
                           Path(args.marker) if args.marker else None)
    relay = alert_relay(database, settings, clock, sender)  # the production lease
    ticks = 0
    while clock.now() < until:
        run_escalation_tick(database, settings, clock)
        run_alert_sender(relay)
        ticks += 1
        time.sleep(0.05)
    print(f"ticks={ticks}", flush=True)


if __name__ == "__main__":
    main()
