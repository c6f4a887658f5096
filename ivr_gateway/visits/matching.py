"""Matching: which planned visit a log-in or log-out belongs to, and why."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta


class MatchKind(enum.StrEnum):
    """How a log event was tied to the rota."""

    PLANNED = "planned"  # the carer's own planned visit
    SUBSTITUTION = "substitution"  # another carer's visit for this client
    UNPLANNED = "unplanned"  # no planned visit for this client near this time


@dataclass(frozen=True)
class Candidate:
    """A planned visit of the client near the event, as matching sees it."""

    planned_visit_id: int
    ref: str
    planned_start: datetime
    planned_end: datetime
    assigned_care_worker_ids: frozenset[int]
    care_workers_logged_in: frozenset[int]  # carers who already have an actual visit on it


@dataclass(frozen=True)
class Match:
    """The matching decision, with the reason in words for the office."""

    kind: MatchKind
    candidate: Candidate | None
    reason: str


def _fmt(delta: timedelta) -> str:
    minutes = int(abs(delta.total_seconds()) // 60)
    return f"{minutes} min {'after' if delta >= timedelta(0) else 'before'}"


def match_log_in(care_worker_id: int, at: datetime, candidates: list[Candidate],
                 window: timedelta) -> Match:
    """Pick the planned visit for a log-in at `at`.

    The carer's own visit for this client nearest its planned start within the window; else
    another carer's visit for this client that still needs a carer (a substitution); else none.
    A visit this carer has already logged into is not offered again.
    """
    near = [c for c in candidates
            if abs(c.planned_start - at) <= window
            and care_worker_id not in c.care_workers_logged_in]
    own = [c for c in near if care_worker_id in c.assigned_care_worker_ids]
    if own:
        best = min(own, key=lambda c: (abs(c.planned_start - at), c.planned_start))
        return Match(MatchKind.PLANNED, best,
                     f"own planned visit {best.ref}, log-in {_fmt(at - best.planned_start)} "
                     "planned start")
    needing = [c for c in near if len(c.care_workers_logged_in) < len(c.assigned_care_worker_ids)]
    pool = needing or near
    if pool:
        best = min(pool, key=lambda c: (abs(c.planned_start - at), c.planned_start))
        return Match(MatchKind.SUBSTITUTION, best,
                     f"not on the rota for this client; took planned visit {best.ref} of another "
                     f"carer, log-in {_fmt(at - best.planned_start)} planned start")
    return Match(MatchKind.UNPLANNED, None,
                 f"no planned visit for this client within {int(window.total_seconds() // 60)} "
                 "min of the log-in")


def match_log_out_without_log_in(care_worker_id: int, at: datetime, candidates: list[Candidate],
                                 window: timedelta) -> Match:
    """Pick the planned visit for a log-out that has no log-in: nearest planned end in window."""
    near = [c for c in candidates if abs(c.planned_end - at) <= window]
    own = [c for c in near if care_worker_id in c.assigned_care_worker_ids]
    pool, kind = (own, MatchKind.PLANNED) if own else (near, MatchKind.SUBSTITUTION)
    if pool:
        best = min(pool, key=lambda c: abs(c.planned_end - at))
        return Match(kind, best, f"log-out with no log-in; nearest planned end is visit {best.ref}")
    return Match(MatchKind.UNPLANNED, None,
                 "log-out with no log-in and no planned visit for this client near the time")
