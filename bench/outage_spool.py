"""The outage spool's cost: a text answered from the spool vs. the same text on a live database.

    .venv/bin/python bench/outage_spool.py [--texts 300]

In-process (Flask's test client, signed requests, the real app), SQLite in a temporary folder,
one thread. Baseline, in the same run: the same texts to the gateway with its database up (an
unregistered mobile: stored, answered, nothing else). Then the database is made unreachable and
the texts go to the spool (a file each, fsynced, the folder fsynced); then they are replayed.
Prints p50/p99 per text for each and the ratio spool/live, and the replay's rate.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

from ivr_gateway.app import create_app
from ivr_gateway.clock import SystemClock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.migrate import upgrade_database
from ivr_gateway.outage.replay import replay_spool
from ivr_gateway.sms.simulator import message_form
from ivr_gateway.telephony.signature import sign

BASE = "http://localhost"


def _texts(app_database: Database, settings: Settings, n: int, prefix: str) -> list[float]:
    app = create_app(settings=settings, database=app_database, clock=SystemClock())
    client = app.test_client()
    took = []
    for i in range(n):
        form = message_form(f"SM{prefix}{i:030d}", "AC" + "0" * 32, "+447700900123",
                            "+441134960000", "IN 123456")
        signature = sign(settings.twilio_auth_token, BASE + "/twilio/sms", form)
        start = time.perf_counter()
        response = client.post("/twilio/sms", data=form,
                               headers={"X-Twilio-Signature": signature})
        took.append(time.perf_counter() - start)
        assert response.status_code == 200
    return took


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


def main() -> None:
    """Run and print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=300)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # a warning per spooled text is the point, not news
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.sqlite3"
        upgrade_database(url)
        database = Database(url)
        settings = Settings(database_url=url, spool_dir=Path(folder) / "spool")
        live = _texts(database, settings, args.texts, "L")
        down = Database(f"sqlite:///{folder}/missing/none.sqlite3")
        spooled = _texts(down, settings, args.texts, "S")
        start = time.perf_counter()
        report = replay_spool(database, settings, SystemClock())
        replay_seconds = time.perf_counter() - start
        database.dispose()
    print(f"texts: {args.texts} each way")
    print(f"live database : p50 {_p(live, 50):6.2f} ms   p99 {_p(live, 99):6.2f} ms")
    print(f"spooled       : p50 {_p(spooled, 50):6.2f} ms   p99 {_p(spooled, 99):6.2f} ms")
    print(f"ratio spooled/live: p50 {_p(spooled, 50) / _p(live, 50):.2f}   "
          f"p99 {_p(spooled, 99) / _p(live, 99):.2f}")
    print(f"replay: {report.summary()} in {replay_seconds:.2f} s "
          f"({args.texts / replay_seconds:.0f} items/s)")


if __name__ == "__main__":
    main()
