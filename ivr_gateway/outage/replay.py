"""Replay the outage spool: each spooled call and text recorded once, in order, at its own time.

Runs in the scheduler (a job every SPOOL_REPLAY_SECONDS) and as `ivr-gateway spool replay`.
Items go oldest first (by when they happened). Each is recorded in its own transaction that
first claims the item's row in spool_replays (INSERT ... ON CONFLICT DO NOTHING): a second
replayer waits on that row and then finds it taken, and a replay that crashed after its commit
but before deleting the file finds it taken too, so nothing is ever recorded twice. The file is
deleted only after the commit. A database still unreachable stops the replay (the rest wait, in
order); a call still under way (its PIN not yet keyed, no status callback saying it ended, and
spooled less than CALL_IN_PROGRESS ago) stops it too, so later items never overtake it. An item
that fails for another reason is moved to the spool's failed/ folder and its row says why: the
office sees it with the refused items.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from ivr_gateway.clock import Clock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database, insert_unless_present, is_unreachable, table_of
from ivr_gateway.ivr.outage import outage_note, replay_call
from ivr_gateway.sms.outage import replay_text
from ivr_gateway.telephony.models import SpoolReplay
from ivr_gateway.telephony.spool import Replayed, Spool, SpoolItem

log = logging.getLogger(__name__)

CALL_IN_PROGRESS = timedelta(minutes=5)  # a call is over well within this (Twilio's own limits)
REPLAY_SECONDS = 15
UNFINISHED = ":unfinished"
FINISHED_ELSEWHERE = ("the rest of this call was kept by another web process and recorded "
                      "from there")


@dataclass
class ReplayReport:
    """What one replay did."""

    replayed: list[tuple[str, str]] = field(default_factory=list)  # (item id, outcome)
    already: int = 0
    failed: int = 0
    waiting: int = 0
    stopped: str = ""  # why it stopped before the end ("" when it reached it)

    def summary(self) -> str:
        """One line for the log and the command."""
        counts: dict[str, int] = {}
        for _, outcome in self.replayed:
            counts[outcome] = counts.get(outcome, 0) + 1
        parts = [f"{n} {outcome}" for outcome, n in sorted(counts.items())]
        if self.already:
            parts.append(f"{self.already} recorded before")
        if self.failed:
            parts.append(f"{self.failed} failed (in failed/)")
        text = "replayed " + (", ".join(parts) if parts else "nothing")
        if self.stopped:
            text += f"; stopped: {self.stopped} ({self.waiting} waiting)"
        return text


def _replay_one(database: Database, settings: Settings, item: SpoolItem, now: datetime
                ) -> Replayed | None:
    """Record one item in one transaction; None when it was recorded before.

    A call's steps may have been spooled by different web hosts (each step goes to whichever
    process Twilio reaches; the step URLs carry what was keyed): the host that took the PIN
    holds the whole call, another may hold its start only. So an unfinished call is claimed
    under its own key, and gives way to the finished one, whichever is replayed first.
    """
    finished = _finished(item)
    key = _claim_key(item)
    replays = table_of(SpoolReplay)
    with database.unit_of_work() as session:
        claimed = insert_unless_present(session, SpoolReplay, {
            "item_id": key, "kind": item.kind, "sid": item.sid[:64],
            "at": item.at, "spooled_at": item.written_at, "replayed_at": now,
            "outcome": "claimed", "detail": "", "from_number": "", "log_event_id": None,
        }, ("item_id",))
        if not claimed:
            return None
        note = outage_note(item, now)
        if not finished and session.scalar(select(SpoolReplay.id).where(
                SpoolReplay.item_id == item.item_id[:100])) is not None:
            result = Replayed("done", FINISHED_ELSEWHERE,
                              from_number=str(item.fields.get("from", ""))[:32])
        elif item.kind == "call":
            result = replay_call(session, item, settings, now)
        else:
            result = replay_text(session, item, settings, database, note)
        session.execute(update(replays).where(replays.c.item_id == key)
                        .values(outcome=result.outcome, detail=result.detail[:2000],
                                from_number=result.from_number[:32],
                                log_event_id=result.log_event_id))
        if finished and item.kind == "call":
            # Its start, replayed before from another host's spool, is not for the office.
            session.execute(update(replays)
                            .where(replays.c.item_id == (item.item_id + UNFINISHED)[:100])
                            .values(outcome="done", detail=FINISHED_ELSEWHERE))
        return result


def _finished(item: SpoolItem) -> bool:
    return item.kind != "call" or bool(item.fields.get("finished"))


def _claim_key(item: SpoolItem) -> str:
    return (item.item_id if _finished(item) else item.item_id + UNFINISHED)[:100]


def _record_failure(database: Database, item: SpoolItem, now: datetime, error: Exception
                    ) -> None:
    with database.unit_of_work() as session:
        insert_unless_present(session, SpoolReplay, {
            "item_id": _claim_key(item), "kind": item.kind, "sid": item.sid[:64],
            "at": item.at, "spooled_at": item.written_at, "replayed_at": now,
            "outcome": "failed",
            "detail": f"could not be replayed ({type(error).__name__}: {error})"[:2000],
            "from_number": str(item.fields.get("from", ""))[:32], "log_event_id": None,
        }, ("item_id",))


def replay_spool(database: Database, settings: Settings, clock: Clock,
                 spool: Spool | None = None) -> ReplayReport:
    """Replay every waiting item, oldest first, until the end or a reason to stop."""
    spool = spool or Spool(settings.spool_dir)
    report = ReplayReport()
    items = spool.items()
    for index, item in enumerate(items):
        now = clock.now()
        if item.kind == "call" and not item.fields.get("finished") and \
                not item.fields.get("ended") and now - item.written_at < CALL_IN_PROGRESS:
            report.stopped, report.waiting = "a call is still under way", len(items) - index
            break
        try:
            result = _replay_one(database, settings, item, now)
        except Exception as error:
            if is_unreachable(error):
                report.stopped = "the database is still unreachable"
                report.waiting = len(items) - index
                break
            log.exception("spool item %s could not be replayed", item.item_id)
            try:
                _record_failure(database, item, now, error)
            except Exception:
                log.exception("could not record the failure of %s", item.item_id)
                report.stopped, report.waiting = "a failure could not be recorded", \
                    len(items) - index
                break
            spool.set_aside(item)
            report.failed += 1
            continue
        if result is None:
            report.already += 1
        else:
            report.replayed.append((item.item_id, result.outcome))
        spool.remove(item)
    if report.replayed or report.failed or (report.stopped and report.waiting):
        log.info("outage spool: %s", report.summary())
    return report


def run_spool_replay(database: Database, settings: Settings, clock: Clock) -> ReplayReport:
    """The scheduler's job: replay the spool if anything waits in it."""
    return replay_spool(database, settings, clock)


def replay_counts(database: Database) -> dict[str, int]:
    """How many replayed items of each outcome the database holds."""
    with database.unit_of_work() as session:
        rows = session.execute(select(SpoolReplay.outcome, func.count())
                               .group_by(SpoolReplay.outcome)).all()
        return {str(outcome): int(n) for outcome, n in rows}
