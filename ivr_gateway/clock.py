"""The one source of "now": domain code takes a Clock so tests can run in fake time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current time as an aware UTC datetime."""

    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        """The current instant from the operating system, in UTC."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved: for tests and benchmarks."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = at.astimezone(UTC)

    def now(self) -> datetime:
        """The instant the clock was set to."""
        return self._now

    def set(self, at: datetime) -> None:
        """Move the clock to an instant."""
        self._now = at.astimezone(UTC)

    def advance(self, **delta: float) -> None:
        """Move the clock forward, e.g. advance(minutes=5)."""
        self._now += timedelta(**delta)
