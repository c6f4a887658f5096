"""The code devices kept in clients' homes: registering tokens, printing code sheets.

Shared by the API, the CLI and the demo. Refusals are rota errors (InvalidRota, NotFound) so the
API answers them as it answers any other bad input.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.models import Adult, AuditEntry
from ivr_gateway.rota.problems import Change, InvalidRota, NotFound, check_ref
from ivr_gateway.sms.codes import (
    MAX_DRIFT_STEPS,
    SHEET_CODES_MAX,
    TOKEN_DIGITS,
    TOKEN_STEPS,
    CurrentCode,
    code_shown_now,
    decrypt_secret,
    encrypt_secret,
    new_sheet_code,
    normalise_secret,
    sheet_code_hash,
)
from ivr_gateway.sms.models import CodeSheet, SheetCode, VisitCodeToken


class TokenIn(BaseModel):
    """A token as a rostering system or the office registers it (the serial is in the URL)."""

    model_config = ConfigDict(extra="forbid")

    adult_ref: str | None = Field(
        default=None, max_length=64,
        description="The client whose home the token is fixed in; null leaves it unassigned.")
    secret: str | None = Field(
        default=None, max_length=128, json_schema_extra={"writeOnly": True},
        description="The token's base32 seed from the vendor's file. Needed when the token is "
                    "new; stored encrypted and never returned.")
    digits: int | None = Field(default=None, description="Digits the token shows: 6 or 8.")
    step: int | None = Field(default=None, description="Seconds per code: 30 or 60.")
    active: bool | None = None


class TokenView(BaseModel):
    """A token as stored, never its secret."""

    serial: str
    adult_ref: str | None
    digits: int
    step: int
    drift_steps: int = Field(description="How far the token's clock is learnt to be off, in "
                                         "steps (+ ahead, - behind).")
    active: bool
    created_at: datetime
    updated_at: datetime


def token_view(token: VisitCodeToken) -> TokenView:
    """The API's view of a token."""
    return TokenView(serial=token.serial, adult_ref=token.adult.ref if token.adult else None,
                     digits=token.digits, step=token.step_seconds, drift_steps=token.drift_steps,
                     active=token.active, created_at=token.created_at,
                     updated_at=token.updated_at)


def _adult(session: Session, ref: str, field_name: str = "adult_ref") -> Adult:
    adult = session.scalar(select(Adult).where(Adult.ref == ref))
    if adult is None:
        raise InvalidRota.of(field_name, f"no client with reference {ref!r}; create the client "
                             "first")
    return adult


def register_token(session: Session, serial: str, data: TokenIn, *, settings: Settings,
                   now: datetime, actor: str) -> tuple[Change, TokenView]:
    """Create or update a token by serial: ('created' | 'updated' | 'unchanged', view)."""
    serial = check_ref(serial)
    token = session.scalar(select(VisitCodeToken).where(VisitCodeToken.serial == serial))
    if data.digits is not None and data.digits not in TOKEN_DIGITS:
        raise InvalidRota.of("digits", "a token shows 6 or 8 digits")
    if data.step is not None and data.step not in TOKEN_STEPS:
        raise InvalidRota.of("step", "a token changes its code every 30 or 60 seconds")
    secret = None
    if data.secret is not None:
        try:
            secret = normalise_secret(data.secret)
        except ValueError as error:
            raise InvalidRota.of("secret", str(error)) from None
    adult = _adult(session, data.adult_ref) if data.adult_ref else None
    change: Change
    if token is None:
        if secret is None:
            raise InvalidRota.of("secret", "a new token needs its secret (the base32 seed from "
                                 "the vendor's file)")
        token = VisitCodeToken(serial=serial, adult_id=adult.id if adult else None,
                               secret_encrypted=encrypt_secret(secret, settings.token_secret_key),
                               digits=data.digits or 6, step_seconds=data.step or 30,
                               drift_steps=0, active=True if data.active is None else data.active,
                               created_at=now, updated_at=now)
        session.add(token)
        session.flush()
        change = "created"
    else:
        before = (token.adult_id, token.digits, token.step_seconds, token.active)
        same_secret = secret is None or decrypt_secret(
            token.secret_encrypted, settings.token_secret_key) == secret
        if data.adult_ref is not None:
            token.adult_id = adult.id if adult else None
        if data.digits is not None:
            token.digits = data.digits
        if data.step is not None:
            token.step_seconds = data.step
        if data.active is not None:
            token.active = data.active
        if not same_secret and secret is not None:
            token.secret_encrypted = encrypt_secret(secret, settings.token_secret_key)
            token.drift_steps = 0
        changed = before != (token.adult_id, token.digits, token.step_seconds, token.active)
        change = "updated" if changed or not same_secret else "unchanged"
        if change == "updated":
            token.updated_at = now
    if change != "unchanged":
        session.add(AuditEntry(at=now, actor=actor[:100], action=f"token_{change}",
                               entity="visit_code_token", entity_ref=serial,
                               detail={"adult_ref": data.adult_ref, "digits": token.digits,
                                       "step": token.step_seconds,
                                       "secret_changed": secret is not None}))
    session.flush()
    session.refresh(token)
    return change, token_view(token)


def get_token(session: Session, serial: str) -> TokenView:
    """A token by serial, or NotFound."""
    token = session.scalar(select(VisitCodeToken).where(VisitCodeToken.serial == serial))
    if token is None:
        raise NotFound(f"No visit-code token with serial {serial!r}.")
    return token_view(token)


@dataclass
class SeedImport:
    """What a vendor's seed file did."""

    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def import_token_seeds(session: Session, text: str, *, digits: int, step: int,
                       settings: Settings, now: datetime, actor: str) -> SeedImport:
    """Register the tokens of a vendor's seed file (CSV rows serial,secret), all or nothing.

    The tokens are unassigned until the office gives each one to a client.
    """
    report = SeedImport()
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if rows and rows[0] and rows[0][0].strip().lower() == "serial":
        rows = rows[1:]
        first_line = 2
    else:
        first_line = 1
    seen: set[str] = set()
    for line, row in enumerate(rows, start=first_line):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) < 2:
            report.problems.append(f"line {line}: expected serial,secret")
            continue
        serial, secret = row[0].strip(), row[1].strip()
        if serial in seen:
            report.problems.append(f"line {line}: serial {serial} appears twice in the file")
            continue
        seen.add(serial)
        try:
            change, _view = register_token(
                session, serial, TokenIn(secret=secret, digits=digits, step=step),
                settings=settings, now=now, actor=actor)
        except InvalidRota as error:
            report.problems.append(f"line {line} ({serial}): {error.message}")
            continue
        (report.created if change == "created" else report.unchanged).append(serial)
    return report


def current_code(session: Session, serial: str, settings: Settings, now: datetime
                 ) -> CurrentCode:
    """What the token shows now, by our clock corrected by its learnt drift (demo and support)."""
    token = session.scalar(select(VisitCodeToken).where(VisitCodeToken.serial == serial))
    if token is None:
        raise NotFound(f"No visit-code token with serial {serial!r}.")
    return code_shown_now(token.serial, token.secret_encrypted, digits=token.digits,
                          step_seconds=token.step_seconds, drift_steps=token.drift_steps,
                          adult_initials=token.adult.initials if token.adult else None,
                          key_setting=settings.token_secret_key, now=now)


def resync_token(session: Session, serial: str, now: datetime, actor: str) -> None:
    """Forget a token's learnt drift (after its battery was changed, say)."""
    token = session.scalar(select(VisitCodeToken).where(VisitCodeToken.serial == serial))
    if token is None:
        raise NotFound(f"No visit-code token with serial {serial!r}.")
    token.drift_steps = 0
    token.updated_at = now
    session.add(AuditEntry(at=now, actor=actor[:100], action="token_resync",
                           entity="visit_code_token", entity_ref=serial,
                           detail={"max_drift_steps": MAX_DRIFT_STEPS}))


@dataclass(frozen=True)
class PrintedSheet:
    """A new code sheet, with its codes in clear: shown once, for printing, then only hashed."""

    sheet_number: int
    adult_ref: str
    adult_initials: str
    codes: list[str]
    created_at: datetime
    retired_sheets: list[int]


def new_code_sheet(session: Session, adult_ref: str, *, count: int, settings: Settings,
                   now: datetime, actor: str, retire_old: bool = True) -> PrintedSheet:
    """Make a sheet of single-use codes for a client; by default the client's old sheets retire."""
    if not 1 <= count <= SHEET_CODES_MAX:
        raise InvalidRota.of("count", f"a sheet holds 1 to {SHEET_CODES_MAX} codes")
    adult = session.scalar(select(Adult).where(Adult.ref == adult_ref))
    if adult is None:
        raise NotFound(f"No client with reference {adult_ref!r}.")
    retired: list[int] = []
    if retire_old:
        old = session.scalars(select(CodeSheet).where(CodeSheet.adult_id == adult.id,
                                                      CodeSheet.retired_at.is_(None))).all()
        for sheet in old:
            sheet.retired_at = now
            retired.append(sheet.sheet_number)
    number = (session.scalar(select(func.max(CodeSheet.sheet_number))) or 1000) + 1
    sheet = CodeSheet(sheet_number=number, adult_id=adult.id, code_count=count, created_at=now)
    session.add(sheet)
    session.flush()
    for old_number in retired:
        session.execute(update(CodeSheet).where(CodeSheet.sheet_number == old_number)
                        .values(retired_reason=f"replaced by sheet {number}"))
    codes: list[str] = []
    seen_hashes: set[str] = set()
    while len(codes) < count:
        code = new_sheet_code()
        digest = sheet_code_hash(code, settings.token_secret_key)
        # Distinct within the sheet, and not live on any other sheet, so a code names one home.
        if digest in seen_hashes or session.scalar(
                select(SheetCode.id).join(CodeSheet)
                .where(SheetCode.code_hash == digest, SheetCode.used_at.is_(None),
                       CodeSheet.retired_at.is_(None)).limit(1)) is not None:
            continue
        seen_hashes.add(digest)
        codes.append(code)
        session.add(SheetCode(sheet_id=sheet.id, position=len(codes), code_hash=digest))
    session.add(AuditEntry(at=now, actor=actor[:100], action="code_sheet_created",
                           entity="code_sheet", entity_ref=str(number),
                           detail={"adult_ref": adult.ref, "codes": count,
                                   "retired_sheets": retired}))
    session.flush()
    return PrintedSheet(number, adult.ref, adult.initials, codes, now, retired)
