"""Escalation policy as data: tick interval, time per ladder level, office hours, reminders.

Settings, not a feature: read from the environment by ivr_gateway.config into
``settings.escalation`` (one settings object), so it sits in the bottom layer with config and
imports nothing of ours. It lived in ivr_gateway/escalation/policy.py, which made config (and so
every module) load the escalation package. The `holidays` package is imported only when a bank
holiday is first checked: loading the settings, or the visit rules, does not pay for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import holidays

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# BANK_HOLIDAYS: whose public holidays close the office (the `holidays` package keeps the
# one-off ones too, such as a coronation or a state funeral).
BANK_HOLIDAY_REGIONS = {"england": "ENG", "wales": "WLS", "scotland": "SCT",
                        "northern-ireland": "NIR", "none": ""}


@lru_cache(maxsize=8)
def _bank_holidays(subdivision: str) -> holidays.HolidayBase:
    import holidays  # lazily: a large package, needed only when a bank holiday is checked

    return holidays.country_holidays("GB", subdiv=subdivision)

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*(.*)$")


@dataclass(frozen=True)
class OfficeHours:
    """When coordinators are on duty: local wall-clock times on some weekdays (Mon = 0)."""

    opens: time = time(8, 0)
    closes: time = time(18, 0)
    weekdays: frozenset[int] = frozenset(range(5))
    bank_holidays: str = ""  # a key of BANK_HOLIDAY_REGIONS: closed on that nation's holidays
    closed_dates: frozenset[date] = frozenset()  # other local days the office is shut

    def is_closed_on(self, day: date) -> bool:
        """True on a local day the office does not open at all (not a weekday of its, a bank
        holiday of its nation, or a day it names as closed)."""
        if day.weekday() not in self.weekdays or day in self.closed_dates:
            return True
        region = BANK_HOLIDAY_REGIONS.get(self.bank_holidays, "")
        return bool(region) and day in _bank_holidays(region)

    @classmethod
    def parse(cls, text: str) -> OfficeHours:
        """'08:00-18:00 Mon-Fri' or '07:30-20:00 Mon-Sat' or '08:00-18:00 Mon,Wed,Fri'."""
        match = _HOURS.match(text or "")
        if not match:
            raise ValueError(f"OFFICE_HOURS {text!r} should look like '08:00-18:00 Mon-Fri'")
        h1, m1, h2, m2, days = match.groups()
        try:
            opens, closes = time(int(h1), int(m1)), time(int(h2), int(m2))
        except ValueError:
            raise ValueError(f"OFFICE_HOURS {text!r} has a time that does not exist") from None
        if closes <= opens:
            raise ValueError(f"OFFICE_HOURS {text!r}: the office must close after it opens")
        return cls(opens, closes, _parse_days(days.strip() or "Mon-Fri", text))

    def is_open(self, at: datetime, tz: ZoneInfo) -> bool:
        """True when `at` (aware) falls in office hours on the local wall clock."""
        local = at.astimezone(tz)
        return not self.is_closed_on(local.date()) and self.opens <= local.time() < self.closes

    def next_opening(self, at: datetime, tz: ZoneInfo) -> datetime:
        """The next instant (UTC) the office is open, `at` itself if open now."""
        if self.is_open(at, tz):
            return at
        local = at.astimezone(tz)
        # A week, plus every closed day and bank holiday that could fall in the way.
        for days_ahead in range(8 + len(self.closed_dates) + 14):
            day = local.date() + timedelta(days=days_ahead)
            if self.is_closed_on(day):
                continue
            opening = datetime.combine(day, self.opens, tzinfo=tz)
            if opening.astimezone(UTC) > at:
                return opening.astimezone(UTC)
        raise ValueError("office hours name no day the office opens")


def parse_closed_dates(text: str) -> frozenset[date]:
    """'2026-12-24, 2026-12-31' -> those days (OFFICE_CLOSED_DATES)."""
    days: set[date] = set()
    for part in (text or "").replace(" ", "").split(","):
        if not part:
            continue
        try:
            days.add(date.fromisoformat(part))
        except ValueError:
            raise ValueError(f"OFFICE_CLOSED_DATES: {part!r} is not a date like 2026-12-24"
                             ) from None
    return frozenset(days)


def _parse_days(text: str, whole: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        ends = part.split("-")
        try:
            indexes = [DAYS.index(e[:3]) for e in ends]
        except ValueError:
            raise ValueError(f"OFFICE_HOURS {whole!r}: {part!r} is not a day like Mon or "
                             "Mon-Fri") from None
        if len(indexes) == 1:
            days.add(indexes[0])
        elif len(indexes) == 2:
            first, last = indexes
            days.update(range(first, last + 1) if first <= last
                        else [*range(first, 7), *range(0, last + 1)])
        else:
            raise ValueError(f"OFFICE_HOURS {whole!r}: {part!r} is not a day range")
    return frozenset(days)


@dataclass(frozen=True)
class EscalationPolicy:
    """How alerts are raised and climbed (DESIGN.md defaults; every value is configurable)."""

    tick_seconds: int = 30
    level_minutes: int = 15  # time at each ladder level before the next is told
    carer_reminder_minutes: int = 15  # missing log-out: the carer's text, then the office
    reason_code_reminder_hours: int = 24  # the office is reminded this long after the visit
    office_hours: OfficeHours = field(default_factory=OfficeHours)
    sender: str = "recording"  # "recording" (prints/stores) or "twilio"
    first_tick_lookback_hours: int = 12  # what the very first tick looks back over
    # An unplanned visit has no planned end to chase a log-out from: it is presumed to last at
    # most the longest normal visit (DESIGN.md: shifts of up to 8 hours), then chased as a planned
    # one is. Kept under the 12-hour stale-open rule (visits/recording.py, STALE_OPEN_VISIT).
    unplanned_visit_minutes: int = 480
    # A storm (nobody logged in by 9 am): past this many alert texts and calls to an office phone
    # in a minute, the phone gets one summary text ("40 alerts ... see the board") instead, then
    # an update at most every storm_update_minutes while alerts keep coming; 0: no storms.
    texts_per_minute: int = 5
    # A phone's storm updates come this far apart, and the storm passes (individual texts resume)
    # once a whole interval goes by with nothing new for it. See docs/escalation.md for the choice.
    storm_update_minutes: int = 30

    def level_time(self, red: bool) -> timedelta:
        """Time at one ladder level: half for red-rated clients."""
        return _halved(timedelta(minutes=self.level_minutes), red)

    def unplanned_visit_time(self) -> timedelta:
        """How long an unplanned visit may last before its log-out is chased."""
        return timedelta(minutes=self.unplanned_visit_minutes)

    def carer_reminder_time(self, red: bool) -> timedelta:
        """Time the carer has to answer 'did you forget to log out?' before the office hears."""
        return _halved(timedelta(minutes=self.carer_reminder_minutes), red)

    def storm_update_time(self) -> timedelta:
        """The least time between two storm texts to one phone."""
        return timedelta(minutes=self.storm_update_minutes)


def _halved(delta: timedelta, red: bool) -> timedelta:
    return delta / 2 if red else delta


# STALE_OPEN_VISIT (visits/recording.py): an open visit older than this is a forgotten log-out.
# Not imported, to keep this module free of other imports.
_STALE_OPEN_MINUTES = 12 * 60


def _number(env: Mapping[str, str], name: str, default: int, minimum: int = 0,
            maximum: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}")
    return value


def load_policy(env: Mapping[str, str], production: bool) -> EscalationPolicy:
    """The policy from the environment; ValueError names the setting that is wrong."""
    sender = env.get("ALERT_SENDER") or ("twilio" if production else "recording")
    if sender not in ("recording", "twilio"):
        raise ValueError(f"ALERT_SENDER must be 'recording' or 'twilio', not {sender!r}")
    if production and sender != "twilio":
        raise ValueError("ALERT_SENDER=recording sends nothing; production needs 'twilio'")
    return EscalationPolicy(
        tick_seconds=_number(env, "ESCALATION_TICK_SECONDS", 30, minimum=1),
        level_minutes=_number(env, "ESCALATION_LEVEL_MINUTES", 15, minimum=1),
        carer_reminder_minutes=_number(env, "ESCALATION_CARER_REMINDER_MINUTES", 15),
        reason_code_reminder_hours=_number(env, "REASON_CODE_REMINDER_HOURS", 24, minimum=1),
        unplanned_visit_minutes=_number(env, "ESCALATION_UNPLANNED_VISIT_MINUTES", 480,
                                        minimum=1, maximum=_STALE_OPEN_MINUTES),
        office_hours=_office_hours(env),
        sender=sender,
        texts_per_minute=_number(env, "ALERT_TEXTS_PER_MINUTE", 5),
        storm_update_minutes=_number(env, "ALERT_STORM_UPDATE_MINUTES", 30, minimum=1),
    )


def _office_hours(env: Mapping[str, str]) -> OfficeHours:
    hours = OfficeHours.parse(env.get("OFFICE_HOURS") or "08:00-18:00 Mon-Fri")
    region = (env.get("BANK_HOLIDAYS") or "england").strip().lower()
    if region not in BANK_HOLIDAY_REGIONS:
        raise ValueError(f"BANK_HOLIDAYS must be one of {', '.join(BANK_HOLIDAY_REGIONS)}, "
                         f"not {region!r}")
    return replace(hours, bank_holidays=region,
                   closed_dates=parse_closed_dates(env.get("OFFICE_CLOSED_DATES", "")))
