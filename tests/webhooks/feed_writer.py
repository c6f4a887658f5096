"""A writer process for the feed's concurrency test: announces planned-visit changes, holding
each transaction open a random moment after its entry so that writers commit out of id order.

python -m tests.webhooks.feed_writer DATABASE_URL SEED TRANSACTIONS REF...
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime

from sqlalchemy import select

from ivr_gateway import schema  # noqa: F401 - every table, before the first query
from ivr_gateway.db import Database
from ivr_gateway.models import PlannedVisit
from ivr_gateway.visits.changes import record_planned_visit_changed


def main() -> None:
    """Write TRANSACTIONS transactions of one or two entries each."""
    url, seed, transactions, *refs = sys.argv[1:]
    rng = random.Random(int(seed))
    database = Database(url)
    now = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
    for _ in range(int(transactions)):
        with database.unit_of_work() as session:
            for ref in rng.sample(refs, rng.choice((1, 2))):
                visit = session.scalar(select(PlannedVisit).where(PlannedVisit.ref == ref))
                assert visit is not None
                record_planned_visit_changed(session, visit, now)
            time.sleep(rng.uniform(0, 0.02))  # commit late: a later writer may commit first
    database.dispose()


if __name__ == "__main__":
    main()
