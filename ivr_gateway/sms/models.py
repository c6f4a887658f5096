"""Tables of the SMS channel: visit-code tokens and code sheets, and every inbound text.

inbound_texts is evidence, append-only like call_steps: one row per MessageSid (unique, so
Twilio's repeat of a message changes nothing), matched or not, with the reply that was given.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ivr_gateway.db import Base, UTCDateTime, string_enum
from ivr_gateway.models import Adult
from ivr_gateway.models import SmsOptOut as SmsOptOut  # moved: escalation reads it too


class TextStatus(enum.StrEnum):
    """What became of an inbound text (the office filters on these)."""

    LOGGED = "logged"  # a log-in or log-out was recorded
    UNREGISTERED = "unregistered"  # the sender's mobile is no carer's: raised to the office
    NO_CODE = "no_code"  # a command without a code, or words we do not know
    UNKNOWN_CODE = "unknown_code"
    CHECK_CODE = "check_code"  # mistyped: check digit wrong or one digit off
    USED_CODE = "used_code"
    TOO_OLD = "too_old"
    OTHER_CLIENT = "other_client"  # a real code of a client the carer has no visit with now
    SHEET_RETIRED = "sheet_retired"
    NO_VISIT = "no_visit"  # no visit of the carer near now, so no code can be checked
    LOCKED = "locked"  # too many wrong codes: not checked
    HELP = "help"
    ACK = "ack"
    OPTED_OUT = "opted_out"  # STOP: Twilio stops our texts to this number
    OPTED_IN = "opted_in"  # START
    FAULT = "fault"  # our fault: stored so nothing the carer sent is lost


# The statuses the office should look at (listed with needs_office in the API).
OFFICE_STATUSES = frozenset({TextStatus.UNREGISTERED, TextStatus.OTHER_CLIENT,
                             TextStatus.NO_VISIT, TextStatus.LOCKED, TextStatus.OPTED_OUT,
                             TextStatus.SHEET_RETIRED, TextStatus.TOO_OLD, TextStatus.FAULT})
# The statuses that count as a wrong code towards the rate limits.
FAILED_CODE_STATUSES = frozenset({TextStatus.UNKNOWN_CODE, TextStatus.CHECK_CODE,
                                  TextStatus.USED_CODE, TextStatus.TOO_OLD,
                                  TextStatus.OTHER_CLIENT, TextStatus.SHEET_RETIRED,
                                  TextStatus.NO_VISIT})


class VisitCodeToken(Base):
    """A key-fob showing TOTP codes (RFC 6238), fixed in a client's home.

    The secret is stored encrypted (Fernet under TOKEN_SECRET_KEY). drift_steps is what the
    token's clock is learnt to be ahead (+) or behind (-) of ours, in time steps.
    """

    __tablename__ = "visit_code_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    adult_id: Mapped[int | None] = mapped_column(ForeignKey("adults.id"), index=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    digits: Mapped[int] = mapped_column(Integer, default=6)
    step_seconds: Mapped[int] = mapped_column(Integer, default=30)
    drift_steps: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    adult: Mapped[Adult | None] = relationship()


class TokenCodeUse(Base):
    """A token code (time step) a carer has used: the same code again is refused.

    Per carer, because a double-up is two carers texting the code the fob shows at that moment.
    """

    __tablename__ = "token_code_uses"
    __table_args__ = (UniqueConstraint("token_id", "time_step", "care_worker_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("visit_code_tokens.id", ondelete="CASCADE"))
    time_step: Mapped[int] = mapped_column(BigInteger)
    care_worker_id: Mapped[int] = mapped_column(ForeignKey("care_workers.id"))
    inbound_text_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_texts.id"))
    used_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CodeSheet(Base):
    """A printed sheet of single-use codes kept in a client's care folder."""

    __tablename__ = "code_sheets"

    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_number: Mapped[int] = mapped_column(Integer, unique=True)
    adult_id: Mapped[int] = mapped_column(ForeignKey("adults.id"), index=True)
    code_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_reason: Mapped[str | None] = mapped_column(Text)

    adult: Mapped[Adult] = relationship()


class SheetCode(Base):
    """One code of a sheet, stored only as a keyed hash (HMAC-SHA256)."""

    __tablename__ = "sheet_codes"
    __table_args__ = (UniqueConstraint("sheet_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("code_sheets.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # 1.. as printed: used in order
    code_hash: Mapped[str] = mapped_column(String(64), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_by_care_worker_id: Mapped[int | None] = mapped_column(ForeignKey("care_workers.id"))
    inbound_text_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_texts.id"))

    sheet: Mapped[CodeSheet] = relationship()


class InboundText(Base):
    """Evidence: one text received, stored before it is answered, with the reply given."""

    __tablename__ = "inbound_texts"
    __table_args__ = (Index("ix_inbound_texts_from_number_received", "from_number",
                            "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_number: Mapped[str] = mapped_column(String(32))
    to_number: Mapped[str] = mapped_column(String(32), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    care_worker_id: Mapped[int | None] = mapped_column(ForeignKey("care_workers.id"))
    adult_id: Mapped[int | None] = mapped_column(ForeignKey("adults.id"))
    command: Mapped[str] = mapped_column(String(16), default="")
    status: Mapped[TextStatus] = mapped_column(string_enum(TextStatus))
    needs_office: Mapped[bool] = mapped_column(Boolean, default=False)
    log_event_id: Mapped[int | None] = mapped_column(ForeignKey("log_events.id"))
    detail: Mapped[str] = mapped_column(Text, default="")
    reply: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CodeFailure(Base):
    """A wrong code, counted for the rate limits: per sender, and per client's code devices."""

    __tablename__ = "sms_code_failures"
    __table_args__ = (Index("ix_sms_code_failures_from_number_at", "from_number", "at"),
                      Index("ix_sms_code_failures_adult_at", "adult_id", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    from_number: Mapped[str] = mapped_column(String(32))
    adult_id: Mapped[int | None] = mapped_column(ForeignKey("adults.id"))
    inbound_text_id: Mapped[int] = mapped_column(ForeignKey("inbound_texts.id"))
