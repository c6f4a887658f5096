"""Benchmark: one escalation tick over a day of 10,000 and of 100,000 planned visits.

Run on demand (not a test), from the repository root:

    .venv/bin/python bench/escalation_tick.py                # tick cost, plans, lag (3 min)
    .venv/bin/python bench/escalation_tick.py --lag-minutes 0  # skip the lag part

1. Recreates its own PostgreSQL database (default bench_escalation; never `test`), migrates it.
2. For each day size: writes the day's visits (green clients; 60% of them already logged in and
   out, the rest not), plus the same number of visits (--due, default 50) whose late-start
   deadline falls in the tick's 30-second window. No other visit has a deadline in any rule's
   window, so both sizes have the same work to do; only the table differs.
3. Times one tick (raise, resolve, climb; the relay not included) --repeat times, undoing its
   writes between runs, and prints the median; the ratio 100k/10k must be <= 1.5.
4. Prints EXPLAIN (ANALYZE) of the late-start rule's query: it must use the planned_start index.
5. Lag: with the real clock and the default 30-second tick, visits whose deadlines pass at
   random moments over --lag-minutes; the scheduler (APScheduler, recording sender) runs; the lag
   from each deadline to its text leaving the outbox is printed (requirement: under 60 s).
6. Storm (--storm-scale, 1.0 = a 10,000-visit day; 0 skips it): "nobody logged in by 9 am".
   The morning's visits start from 07:00 to 09:00 and nobody rings; ticks every 30 s of fake
   time from the first deadline to the last (compressed: the waits between ticks are
   skipped, every tick and every send is real work on the database). After each tick the alert
   sender drains the outbox through a sender that takes 150 ms a message (Twilio's pace), 8 at
   a time; the model keeps the sender apart from the tick (its own job), so the next tick starts
   30 s after the last, or when it ends if it ran longer. Prints the tick time (median, p99,
   max), the deadline-to-text lag of every alert's first text or summary to the first rung
   (requirement < 60 s), and the texts and calls per office phone.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, delete, insert, text
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock, SystemClock
from ivr_gateway.config import Settings
from ivr_gateway.config import normalise_database_url as normalise_url
from ivr_gateway.db import Database
from ivr_gateway.escalation.contacts import add_contact, add_on_call
from ivr_gateway.escalation.models import Alert, AlertNotification, EscalationCursor
from ivr_gateway.escalation.rules import DEADLINE_RULES, late_start_query
from ivr_gateway.escalation.tick import run_escalation_tick
from ivr_gateway.migrate import upgrade_database
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    Adult,
    CareWorker,
    PlannedVisit,
    PlannedVisitCareWorker,
    Rag,
    VisitStatus,
)
from ivr_gateway.outbox.models import OutboxMessage
from ivr_gateway.scheduler import build_scheduler
from ivr_gateway.telephony.senders import RecordingSender

NOW = datetime(2026, 6, 16, 11, 0, 10, tzinfo=UTC)  # a Tuesday, 12:00:10 BST
TICK = timedelta(seconds=30)
TARGET_RATIO = 1.5
ADULTS, CARERS = 500, 300


def reset_database(server_url: str, name: str) -> str:
    """Create (if missing) and empty the bench database; migrate it; return its URL."""
    if name in {"test", "postgres", "template0", "template1"} or name.startswith("test"):
        raise SystemExit(f"refusing to use database {name!r}: give the bench its own")
    admin = create_engine(normalise_url(f"{server_url}/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = normalise_url(f"{server_url}/{name}")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade_database(url)
    return url


def write_people(session: Session) -> None:
    """Clients, carers and the office ladder."""
    session.execute(insert(Adult), [
        {"ref": f"A{i}", "client_number": f"{300000 + i}", "given_name": "Bench",
         "family_name": f"Client{i}", "address": "", "postcode": "", "rag": Rag.GREEN,
         "active": True, "created_at": NOW, "updated_at": NOW} for i in range(ADULTS)])
    session.execute(insert(CareWorker), [
        {"ref": f"C{i}", "staff_number": f"{1000 + i}", "given_name": "Bench",
         "family_name": f"Carer{i}", "pin_hash": None, "language": "en", "branch": "",
         "active": True, "created_at": NOW, "updated_at": NOW} for i in range(CARERS)])
    add_contact(session, name="Sam Carter", role="coordinator", mobile="+447911123501", now=NOW,
                actor="bench")
    on_call = add_contact(session, name="Olu Bello", role="on_call", mobile="+447911123502",
                          now=NOW, actor="bench")
    add_contact(session, name="Rita Patel", role="manager", mobile="+447911123503", now=NOW,
                actor="bench")
    add_on_call(session, contact_id=on_call.id, starts_at=NOW - timedelta(days=1),
                ends_at=NOW + timedelta(days=1), now=NOW, actor="bench")


def write_day(session: Session, visits: int, due: int, rng: random.Random) -> None:
    """A day of visits around NOW, and `due` visits whose late deadline is in the tick window."""
    undo_tick(session)
    session.execute(delete(ActualVisit))
    session.execute(delete(PlannedVisitCareWorker))
    session.execute(delete(PlannedVisit))
    day_start = NOW.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(hours=1)
    rows, carers, actuals = [], [], []
    for i in range(visits):
        # Background visits start at hh:mm:30: never inside a rule window, which all run from
        # hh:mm:40 to hh:mm+1:10 for a tick at hh:mm:10 (30-second windows).
        start = day_start + timedelta(minutes=rng.randrange(24 * 60), seconds=30)
        rows.append({"id": i + 1, "ref": f"V{i}", "adult_id": rng.randrange(ADULTS) + 1,
                     "planned_start": start, "planned_end": start + timedelta(minutes=30),
                     "status": VisitStatus.PLANNED, "time_critical": False,
                     "created_at": NOW, "updated_at": NOW})
        carer = rng.randrange(CARERS) + 1
        carers.append({"planned_visit_id": i + 1, "care_worker_id": carer})
        if start + timedelta(minutes=30) < NOW and rng.random() < 0.6:
            actuals.append({"care_worker_id": carer, "adult_id": rows[-1]["adult_id"],
                            "planned_visit_id": i + 1, "state": ActualVisitState.CLOSED,
                            "started_at": start, "ended_at": start + timedelta(minutes=30),
                            "match_reason": "", "created_at": NOW})
    due_start = NOW - timedelta(minutes=30) - timedelta(seconds=25)
    for j in range(due):
        i = visits + j
        rows.append({"id": i + 1, "ref": f"V{i}", "adult_id": rng.randrange(ADULTS) + 1,
                     "planned_start": due_start, "planned_end": due_start + timedelta(minutes=30),
                     "status": VisitStatus.PLANNED, "time_critical": False,
                     "created_at": NOW, "updated_at": NOW})
        carers.append({"planned_visit_id": i + 1, "care_worker_id": rng.randrange(CARERS) + 1})
    for chunk in range(0, len(rows), 5000):
        session.execute(insert(PlannedVisit), rows[chunk:chunk + 5000])
        session.execute(insert(PlannedVisitCareWorker), carers[chunk:chunk + 5000])
    for chunk in range(0, len(actuals), 5000):
        session.execute(insert(ActualVisit), actuals[chunk:chunk + 5000])


def undo_tick(session: Session) -> None:
    """Forget what a tick wrote, and put every cursor one tick back."""
    session.execute(delete(AlertNotification))
    session.execute(delete(Alert))
    session.execute(delete(OutboxMessage))
    session.execute(delete(EscalationCursor))
    session.add_all([EscalationCursor(name=name, checked_until=NOW - TICK)
                     for name, _rule in DEADLINE_RULES])


def time_tick(database: Database, settings: Settings, repeat: int, due: int) -> list[float]:
    """Milliseconds per tick, each on the same starting state."""
    times = []
    for _ in range(repeat):
        with database.unit_of_work() as session:
            undo_tick(session)
        began = time.perf_counter()
        result = run_escalation_tick(database, settings, FixedClock(NOW))
        times.append((time.perf_counter() - began) * 1000)
        if len(result.raised) != due:
            raise SystemExit(f"expected {due} alerts, the tick raised {len(result.raised)}")
    return times


def explain(database: Database, settings: Settings) -> str:
    """EXPLAIN ANALYZE of the late-start rule's query for the tick's window."""
    statement = late_start_query(NOW - TICK, NOW, settings)
    compiled = statement.compile(dialect=database.engine.dialect)
    with database.engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + str(compiled),
                                    compiled.params).all()
    return "\n".join(row[0] for row in rows)


def measure_lag(database: Database, settings: Settings, minutes: float, visits: int) -> list[float]:
    """Seconds from each deadline to its text leaving the outbox, on the real clock."""
    with database.unit_of_work() as session:
        undo_tick(session)
        session.execute(delete(EscalationCursor))
        session.execute(delete(ActualVisit))
        session.execute(delete(PlannedVisitCareWorker))
        session.execute(delete(PlannedVisit))
    now = datetime.now(UTC)
    late = timedelta(minutes=settings.kpi.late_after)
    rng = random.Random(7)
    with database.unit_of_work() as session:
        for i in range(visits):
            deadline = now + timedelta(seconds=5 + rng.random() * minutes * 60)
            session.execute(insert(PlannedVisit).values(
                id=i + 1, ref=f"L{i}", adult_id=i % ADULTS + 1, planned_start=deadline - late,
                planned_end=deadline - late + timedelta(minutes=30), status=VisitStatus.PLANNED,
                time_critical=False, created_at=now, updated_at=now))
            session.execute(insert(PlannedVisitCareWorker).values(planned_visit_id=i + 1,
                                                                  care_worker_id=1))
    sent_at: list[tuple[str, float]] = []
    sender = RecordingSender(echo=lambda line: sent_at.append((line, time.time())))
    scheduler = build_scheduler(settings, database, SystemClock(), sender=sender, background=True)
    scheduler.start()
    try:
        time.sleep(minutes * 60 + settings.escalation.tick_seconds + 15)
    finally:
        scheduler.shutdown()
    lags = []
    with database.unit_of_work() as session:
        for alert in session.query(Alert).filter(Alert.kind == "late_start"):
            sent = [t for line, t in sent_at if f"alert {alert.number}:" in line]
            if sent:
                lags.append(sent[0] - alert.deadline_at.timestamp())
    if len(lags) != visits:
        raise SystemExit(f"expected {visits} alerts sent, saw {len(lags)}")
    return lags


class SlowSender(RecordingSender):
    """Records, taking Twilio's ~150 ms a message; notes when (wall offset) each went."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.went: dict[str, float] = {}  # idempotency key -> perf_counter when sent

    def _record(self, item: Any) -> str:
        time.sleep(self.seconds)
        self.went[item.key] = time.perf_counter()
        return super()._record(item)


def storm(database: Database, settings: Settings, scale: float, per_text: float) -> None:
    """'Nobody logged in by 9 am' on a day of 10,000 x scale visits, in compressed time."""
    from ivr_gateway.escalation.jobs import alert_relay, run_alert_sender

    with database.unit_of_work() as session:
        undo_tick(session)
        session.execute(delete(EscalationCursor))
        session.execute(delete(ActualVisit))
        session.execute(delete(PlannedVisitCareWorker))
        session.execute(delete(PlannedVisit))
    day = datetime(2026, 6, 16, tzinfo=UTC)  # the Tuesday; London is UTC+1 (BST)
    first = day + timedelta(hours=6)  # 07:00 BST
    last = day + timedelta(hours=8)  # 09:00 BST
    visits = int(10_000 * scale)
    rng = random.Random(9)
    rows, carers = [], []
    for i in range(visits):
        start = first + timedelta(seconds=rng.random() * (last - first).total_seconds())
        rows.append({"id": i + 1, "ref": f"S{i}", "adult_id": i % ADULTS + 1,
                     "planned_start": start, "planned_end": start + timedelta(minutes=30),
                     "status": VisitStatus.PLANNED, "time_critical": False,
                     "created_at": NOW, "updated_at": NOW})
        carers.append({"planned_visit_id": i + 1, "care_worker_id": i % CARERS + 1})
    with database.unit_of_work() as session:
        for chunk in range(0, len(rows), 5000):
            session.execute(insert(PlannedVisit), rows[chunk:chunk + 5000])
            session.execute(insert(PlannedVisitCareWorker), carers[chunk:chunk + 5000])
    with database.engine.connect() as conn:
        conn.execute(text("COMMIT"))
        conn.execute(text("ANALYZE"))
    late = timedelta(minutes=settings.kpi.late_after)
    clock = FixedClock(first + late - TICK)
    run_escalation_tick(database, settings, clock)  # the cursors start here
    sender = SlowSender(per_text)
    relay = alert_relay(database, settings, clock, sender)
    sent_at: dict[str, datetime] = {}  # idempotency key -> fake time it left
    tick_ms: list[float] = []
    phase_ms: dict[str, list[float]] = {}
    now = clock.now()
    sender_free = now
    # On past the last deadline until every storm's last update has gone (texts held for a
    # running storm go out at most ALERT_STORM_UPDATE_MINUTES after the one before).
    end = last + late + 2 * settings.escalation.storm_update_time() + TICK
    while now <= end:
        now += TICK
        clock.set(now)
        began = time.perf_counter()
        ticked = run_escalation_tick(database, settings, clock)
        took = time.perf_counter() - began
        tick_ms.append(took * 1000)
        for name, seconds in ticked.phases.items():
            phase_ms.setdefault(name, []).append(seconds * 1000)
        start = max(now + timedelta(seconds=took), sender_free)
        clock.set(start)
        drain_began = time.perf_counter()
        sender.went.clear()
        run_alert_sender(relay)
        for key, at in sender.went.items():
            sent_at[key] = start + timedelta(seconds=at - drain_began)
        sender_free = start + timedelta(seconds=time.perf_counter() - drain_began)
        now = max(now, now + timedelta(seconds=took) - TICK)  # a long tick delays the next
    lags: list[float] = []
    update_lags: list[float] = []  # alerts that joined a running storm: told in its update
    per_phone: dict[str, int] = {}
    with database.unit_of_work() as session:
        for key, _at in sent_at.items():
            number = (key.split(":")[1] if key.startswith(("storm:", "storm-call:"))
                      else key.rsplit(":", 1)[1])
            per_phone[number] = per_phone.get(number, 0) + 1
        messages = {m.id: (m.idempotency_key, m.payload.get("storm"))
                    for m in session.query(OutboxMessage)}
        for alert in session.query(Alert).filter(Alert.kind == "late_start"):
            told = [n for n in alert.notifications if n.purpose == "alert"]
            # The first rung with anyone on it (out of hours the coordinator's is skipped); its
            # own text, or the storm summary or update it was told in (outbox_message_id).
            firsts = [n for n in told if n.level == min(m.level for m in told)]
            times = []
            for n in firsts:
                key, storm_kind = messages.get(n.outbox_message_id or 0, ("", None))
                if key in sent_at:
                    times.append((sent_at[key], storm_kind == "update"))
            if times:
                at, in_update = min(times)
                (update_lags if in_update else lags).append(
                    (at - alert.deadline_at).total_seconds())
            else:
                lags.append(float("inf"))
    lags.sort()
    tick_ms.sort()
    p99 = lags[int(0.99 * (len(lags) - 1))]
    verdict = "PASS" if lags and lags[-1] < 60 else "FAIL"
    print(f"storm: {visits} visits 07:00-09:00, nobody logged in; {len(tick_ms)} ticks; tick "
          f"median {statistics.median(tick_ms):.0f} ms, p99 "
          f"{tick_ms[int(0.99 * (len(tick_ms) - 1))]:.0f} ms, max {tick_ms[-1]:.0f} ms")
    print("storm: tick by phase (median / p99 / max ms): " + "; ".join(
        f"{name} {statistics.median(v):.0f} / {sorted(v)[int(0.99 * (len(v) - 1))]:.0f} / "
        f"{max(v):.0f}" for name, v in phase_ms.items()))
    print(f"storm: deadline -> first text (or the summary opening a storm) to the first rung, "
          f"{len(lags)} late-start alerts: median {statistics.median(lags):.1f} s, p99 "
          f"{p99:.1f} s, max {lags[-1]:.1f} s (requirement < 60 s) {verdict}")
    if update_lags:
        update_lags.sort()
        print(f"storm: {len(update_lags)} late-start alerts joined a running storm (on the board "
              f"at once) and were texted in its next update: median "
              f"{statistics.median(update_lags):.0f} s, max {update_lags[-1]:.0f} s (by design "
              f"at most ALERT_STORM_UPDATE_MINUTES, {settings.escalation.storm_update_minutes} "
              "min, plus a tick)")
    print(f"load average: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print("storm: messages per office phone (texts, calls, summaries): " + ", ".join(
        f"{number} {count}" for number, count in sorted(per_phone.items())))


def main() -> None:
    """Parse arguments, run each part, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="bench_escalation")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--due", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--lag-minutes", type=float, default=3)
    parser.add_argument("--lag-visits", type=int, default=20)
    parser.add_argument("--storm-scale", type=float, default=1.0,
                        help="the storm's day: 10,000 visits x this (0: skip the storm)")
    parser.add_argument("--storm-send-ms", type=float, default=150)
    parser.add_argument("--only-storm", action="store_true")
    args = parser.parse_args()

    url = reset_database(args.server, args.database)
    database = Database(url)
    settings = Settings(database_url=url, public_base_url="http://127.0.0.1:9")
    rng = random.Random(42)
    with database.unit_of_work() as session:
        write_people(session)
    if args.only_storm:
        storm(database, settings, args.storm_scale, args.storm_send_ms / 1000)
        database.dispose()
        return
    medians: dict[int, float] = {}
    for size in (int(s) for s in args.sizes.split(",")):
        with database.unit_of_work() as session:
            write_day(session, size, args.due, rng)
        with database.engine.connect() as conn:
            conn.execute(text("COMMIT"))
            conn.execute(text("ANALYZE"))
        times = time_tick(database, settings, args.repeat, args.due)
        medians[size] = statistics.median(times)
        print(f"{size:>7} visits in the day, {args.due} due: tick median "
              f"{medians[size]:.1f} ms (min {min(times):.1f}, max {max(times):.1f}, "
              f"n={len(times)})")
        if size == max(int(s) for s in args.sizes.split(",")):
            print("EXPLAIN ANALYZE, late-start rule:\n" + explain(database, settings))
    sizes = sorted(medians)
    if len(sizes) >= 2:
        ratio = medians[sizes[-1]] / medians[sizes[0]]
        verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
        print(f"ratio {sizes[-1]}/{sizes[0]}: {ratio:.2f} (target <= {TARGET_RATIO}) {verdict}")
    if args.lag_minutes > 0:
        lags = measure_lag(database, settings, args.lag_minutes, args.lag_visits)
        verdict = "PASS" if max(lags) < 60 else "FAIL"
        print(f"lag deadline -> text out of the outbox, {len(lags)} alerts, tick every "
              f"{settings.escalation.tick_seconds} s: median {statistics.median(lags):.1f} s, "
              f"max {max(lags):.1f} s (requirement < 60 s) {verdict}")
    if args.storm_scale > 0:
        storm(database, settings, args.storm_scale, args.storm_send_ms / 1000)
    database.dispose()




if __name__ == "__main__":
    main()
