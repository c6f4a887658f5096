"""Office tables: the dashboard's users, its wall-screen links and the board's day index (reason
codes are the domain's: visits/reasons.py)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, Enum, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from ivr_gateway.db import Base, UTCDateTime


class OfficeRole(enum.StrEnum):
    """What an office user may do; each role may do everything the one before it may."""

    COORDINATOR = "coordinator"
    MANAGER = "manager"
    ADMINISTRATOR = "administrator"

    @property
    def rank(self) -> int:
        """Order of the roles: coordinator 1, manager 2, administrator 3."""
        return list(OfficeRole).index(self) + 1


class OfficeUser(Base):
    """Someone who logs in to /office/: password kept as an argon2id hash."""

    __tablename__ = "office_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[OfficeRole] = mapped_column(Enum(
        OfficeRole, native_enum=False, length=32, validate_strings=True,
        values_callable=lambda members: [m.value for m in members]))
    phone: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Raised on logout, lock or password change: older session cookies stop working.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    # Set when an administrator chose the password (new user, reset): the user must replace it
    # with one only they know before the dashboard shows anything else.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False,
                                                       server_default=false())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DisplayLink(Base):
    """A read-only wall-screen link to today's board: only the token's SHA-256 is kept.

    Made and revoked by an administrator (audited); it needs no login, so no user's logout
    blanks the wall, and revoking it ends the display at its next refresh (office/display.py).
    """

    __tablename__ = "display_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())



class BoardDayIndex(Base):
    """The board's verdicts for one day, judged by the scheduler and read by every web process.

    One row a day: `entries` holds every visit's verdict as the board's counts and status
    filters need it (compact JSON, office/board_index.py), judged at `built_at` by the domain
    (visits_for_day); `whole_built_at` is when the whole day was last judged afresh. The web
    reads it with one SELECT and judges nothing for its counts; a row older than a couple of
    minutes means no scheduler is running, and the board falls back to judging the day itself.
    """

    __tablename__ = "board_day_indexes"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime())
    whole_built_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[str] = mapped_column(String(40))  # the day's data version it was built from
    # The change feed read up to (visits/feed.py Position): what changed after it is re-judged.
    feed_xact_id: Mapped[int] = mapped_column(BigInteger, default=0)
    feed_id: Mapped[int] = mapped_column(BigInteger, default=0)
    visits: Mapped[int] = mapped_column(Integer)
    entries: Mapped[str] = mapped_column(Text)
