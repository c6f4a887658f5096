"""The council relay as a real process on a fake clock that runs fast, for the fault suite.

    python -m tests.faults.relay_process URL COUNCIL_URL TOKEN --start ISO --epoch T --speed X

What `ivr-gateway relay` runs (ivr_gateway.ecc.relay.build_relay and run_relay), but its clock
is --start plus the real seconds since --epoch times --speed, so a day of the council's outage
and the relay's back-off passes in seconds. Its lease is six fake hours (seconds of real time).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.ecc.relay import build_relay, run_relay
from tests.escalation.scheduler_process import ScaledClock


def main() -> None:
    """Parse arguments and deliver until killed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("council_url")
    parser.add_argument("token")
    parser.add_argument("--start", required=True)
    parser.add_argument("--epoch", type=float, required=True)
    parser.add_argument("--speed", type=float, required=True)
    args = parser.parse_args()
    clock = ScaledClock(datetime.fromisoformat(args.start).astimezone(UTC), args.epoch,
                        args.speed)
    database = Database(args.url)
    settings = Settings(database_url=args.url, ecc_api_url=args.council_url,
                        ecc_api_token=args.token)
    relay = build_relay(settings, database, clock, batch_size=10, lease=timedelta(hours=6),
                        timeout=5)
    run_relay(relay, database, clock, interval=0.1)


if __name__ == "__main__":
    main()
