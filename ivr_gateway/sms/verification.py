"""Checking a texted code against the devices in the homes the carer may be at now.

Which homes: the clients of the carer's open visits and of their own planned visits near now,
nearest first. Only their tokens and sheets are compared, within the guess budget (codes.py),
so a guessed code has at most a 1 in 100,000 chance. Everything else we look at (a near miss,
another client's sheet, a used or an old code) only chooses the words of the refusal: it can
never log a visit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, literal_column, select, union_all, update
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.db import insert_unless_present
from ivr_gateway.models import (
    ActualVisit,
    ActualVisitState,
    Adult,
    PlannedVisit,
    PlannedVisitCareWorker,
    Verification,
    VisitStatus,
    initials_of,
)
from ivr_gateway.sms.codes import (
    CLIENT_FAILURE_LIMIT,
    FAILURE_WINDOW,
    MAX_DRIFT_STEPS,
    SHEET_CODE_LENGTH,
    SHEET_WINDOW,
    TOKEN_WINDOW_STEPS,
    GuessBudget,
    codes_equal,
    decrypt_secret,
    guess_cost,
    is_sheet_code_shape,
    near_miss,
    sheet_code_hash,
    step_start,
    time_step,
    totp_at_step,
)
from ivr_gateway.sms.models import (
    CodeFailure,
    CodeSheet,
    SheetCode,
    TextStatus,
    TokenCodeUse,
    VisitCodeToken,
)
from ivr_gateway.visits.recording import STALE_OPEN_VISIT

# A sheet code costs 10^-7 (7 random digits; the check digit is known to a guesser).
SHEET_CODE_COST = guess_cost(SHEET_CODE_LENGTH - 1)
# Another client's tokens are looked at (to say "that code is for M.B.") within this of now.
OTHER_CLIENT_HORIZON = timedelta(hours=12)


@dataclass(frozen=True)
class Accepted:
    """A code that proves presence at a client's home."""

    adult_id: int
    verification: Verification
    event_time: datetime
    late: bool
    raw: dict[str, Any]
    initials: str | None = None  # the client's, when already read (for the read-back)


@dataclass(frozen=True)
class TokenRow:
    """A visit-code token as a code check needs it (read as plain columns, not an entity)."""

    id: int
    serial: str
    adult_id: int
    secret_encrypted: str
    digits: int
    step_seconds: int
    drift_steps: int


def _token_row(row: Any) -> TokenRow:
    return TokenRow(*row)


_TOKEN_COLUMNS = (VisitCodeToken.id, VisitCodeToken.serial, VisitCodeToken.adult_id,
                  VisitCodeToken.secret_encrypted, VisitCodeToken.digits,
                  VisitCodeToken.step_seconds, VisitCodeToken.drift_steps)
_LEARN_DRIFT = (update(VisitCodeToken).where(VisitCodeToken.id == bindparam("token_id"))
                .values(drift_steps=bindparam("drift"))
                .execution_options(synchronize_session=False))


@dataclass(frozen=True)
class Refused:
    """Why a code did not log a visit, and the values its reply needs."""

    status: TextStatus
    reply: str  # the key of the reply text
    values: dict[str, str] = field(default_factory=dict)
    adult_ids: tuple[int, ...] = ()  # the homes whose codes were compared (rate limits)
    detail: str = ""


@dataclass
class Attempt:
    """One text's code check: the budget, what was compared, and against whose devices."""

    code: str
    care_worker_id: int
    now: datetime
    settings: Settings
    budget: GuessBudget = field(default_factory=GuessBudget)
    comparisons: int = 0
    blocked_homes: list[int] = field(default_factory=list)  # paused by the per-client limit
    inbound_text_id: int | None = None  # the text that spends a code, as evidence


def _homes_statement() -> Any:
    # Built once (bound parameters): this runs for every text, and building a statement of
    # this size costs more than running it. Like the other plain-column statements here, it
    # runs on the session's connection (no entities, nothing pending to flush before it).
    care_worker_id: Any = bindparam("care_worker_id")
    open_homes: Any = (
        select(ActualVisit.adult_id.label("adult_id"), literal_column("0").label("rank"),
               ActualVisit.started_at.label("at"))
        .where(ActualVisit.care_worker_id == care_worker_id,
               ActualVisit.state == ActualVisitState.OPEN,
               ActualVisit.adult_id.is_not(None),
               ActualVisit.started_at >= bindparam("open_since")))
    planned_homes: Any = (
        select(PlannedVisit.adult_id, literal_column("1"), PlannedVisit.planned_start)
        .join(PlannedVisitCareWorker)
        .where(PlannedVisitCareWorker.care_worker_id == care_worker_id,
               PlannedVisit.status == VisitStatus.PLANNED,
               PlannedVisit.planned_start <= bindparam("starts_by"),
               PlannedVisit.planned_end >= bindparam("ends_from")))
    homes = union_all(open_homes, planned_homes).subquery("homes")
    failures = (select(func.count(CodeFailure.id))
                .where(CodeFailure.adult_id == homes.c.adult_id,
                       CodeFailure.at > bindparam("failures_since"))
                .scalar_subquery())
    return (select(homes.c.rank, homes.c.at, Adult.id, Adult.given_name, Adult.family_name,
                   failures, *_TOKEN_COLUMNS)
            .select_from(homes)
            .join(Adult, Adult.id == homes.c.adult_id)
            .outerjoin(VisitCodeToken, and_(VisitCodeToken.adult_id == Adult.id,
                                            VisitCodeToken.active.is_(True))))


_HOMES = _homes_statement()
_LIVE_SHEET_CODES = (
    select(SheetCode.id, SheetCode.code_hash, SheetCode.position, CodeSheet.sheet_number)
    .join(CodeSheet)
    .where(CodeSheet.adult_id == bindparam("adult_id"), CodeSheet.retired_at.is_(None),
           SheetCode.used_at.is_(None))
    .order_by(CodeSheet.sheet_number, SheetCode.position))

_CLAIM_SHEET_CODE = (
    update(SheetCode)
    .where(SheetCode.id == bindparam("code_id"), SheetCode.used_at.is_(None))
    .values(used_at=bindparam("used_at", type_=SheetCode.used_at.type),
            used_by_care_worker_id=bindparam("care_worker_id"),
            inbound_text_id=bindparam("text_id"))
    .execution_options(synchronize_session=False))


@dataclass(frozen=True)
class Home:
    """A home the carer may be at now: the client, their active tokens, their recent failures."""

    adult_id: int
    initials: str
    tokens: tuple[TokenRow, ...]  # oldest registration first
    recent_failures: int  # wrong codes for this client's devices within FAILURE_WINDOW

    @property
    def blocked(self) -> bool:
        """Paused by the per-client limit: its codes are not compared."""
        return self.recent_failures >= CLIENT_FAILURE_LIMIT


def candidate_homes(session: Session, care_worker_id: int, now: datetime, settings: Settings
                    ) -> list[Home]:
    """The homes the carer may be at now, nearest first: open visits, then planned visits.

    One round trip: the homes with each client's initials (for the read-back), active tokens
    and recent failure count.
    """
    window = timedelta(minutes=settings.kpi.match_window)
    rows = session.connection().execute(_HOMES, {
        "care_worker_id": care_worker_id, "open_since": now - STALE_OPEN_VISIT,
        "starts_by": now + window, "ends_from": now - window,
        "failures_since": now - FAILURE_WINDOW}).all()
    nearest: dict[int, tuple[int, float]] = {}
    initials: dict[int, str] = {}
    tokens: dict[int, dict[int, TokenRow]] = {}
    counts: dict[int, int] = {}
    for rank, at, adult_id, given_name, family_name, count, *token in rows:
        # Open visits: the latest begun first. Planned visits: the nearest start to now first.
        key = ((0, -at.timestamp()) if rank == 0
               else (1, abs((at - now).total_seconds())))
        nearest[adult_id] = min(nearest.get(adult_id, key), key)
        initials[adult_id] = initials_of(given_name, family_name)
        counts[adult_id] = count or 0
        found = tokens.setdefault(adult_id, {})
        if token[0] is not None:  # the outer join found a token
            found[token[0]] = _token_row(token)
    return [Home(adult_id, initials[adult_id],
                 tuple(row for _id, row in sorted(tokens[adult_id].items())), counts[adult_id])
            for adult_id in sorted(nearest, key=lambda a: nearest[a])]


def _blocked_among(session: Session, adult_ids: list[int], now: datetime) -> set[int]:
    """Which of these clients' devices are paused by the per-client limit."""
    if not adult_ids:
        return set()
    rows = session.execute(
        select(CodeFailure.adult_id, func.count())
        .where(CodeFailure.adult_id.in_(adult_ids), CodeFailure.at > now - FAILURE_WINDOW)
        .group_by(CodeFailure.adult_id)).all()
    return {adult_id for adult_id, n in rows if adult_id is not None and n >= CLIENT_FAILURE_LIMIT}


def _late_visits(session: Session, care_worker_id: int, now: datetime, settings: Settings
                 ) -> list[PlannedVisit]:
    max_age = timedelta(hours=settings.sms_late_code_max_hours)
    return list(session.scalars(
        select(PlannedVisit).join(PlannedVisitCareWorker)
        .where(PlannedVisitCareWorker.care_worker_id == care_worker_id,
               PlannedVisit.status == VisitStatus.PLANNED,
               PlannedVisit.planned_end >= now - max_age,
               PlannedVisit.planned_start <= now)
        .order_by(PlannedVisit.planned_start.desc())))


def _tokens(session: Session, adult_ids: list[int], digits: int | None = None
            ) -> list[TokenRow]:
    if not adult_ids:
        return []
    query = select(*_TOKEN_COLUMNS).where(VisitCodeToken.adult_id.in_(adult_ids),
                                          VisitCodeToken.active.is_(True))
    if digits is not None:
        query = query.where(VisitCodeToken.digits == digits)
    tokens = [_token_row(row) for row in session.execute(query.order_by(VisitCodeToken.id))]
    order = {adult_id: i for i, adult_id in enumerate(adult_ids)}
    return sorted(tokens, key=lambda t: order.get(t.adult_id, 0))


def _window_steps(token: TokenRow, now: datetime) -> list[int]:
    centre = time_step(now, token.step_seconds) + token.drift_steps
    # The centre first, then behind (a text takes seconds to arrive), then ahead.
    steps = [centre]
    for offset in range(1, TOKEN_WINDOW_STEPS + 1):
        steps += [centre - offset, centre + offset]
    return steps


def _accept_token(session: Session, attempt: Attempt, token: TokenRow, step: int,
                  late: bool, initials: str | None = None) -> Accepted | Refused:
    # Spend the code (one INSERT that does nothing when this carer has used it already).
    claimed = insert_unless_present(session, TokenCodeUse, {
        "token_id": token.id, "time_step": step, "care_worker_id": attempt.care_worker_id,
        "used_at": attempt.now, "inbound_text_id": attempt.inbound_text_id},
        ("token_id", "time_step", "care_worker_id"))
    if not claimed:
        return Refused(TextStatus.USED_CODE, "used_code", adult_ids=(token.adult_id or 0,),
                       detail=f"token {token.serial} step {step} already used by this carer")
    drift = token.drift_steps
    if not late:
        # Learn the token's drift from the step it showed (bounded: a token further off needs
        # the office to re-sync it rather than being followed anywhere).
        learnt = step - time_step(attempt.now, token.step_seconds)
        if abs(learnt) <= MAX_DRIFT_STEPS and learnt != drift:
            session.connection().execute(_LEARN_DRIFT, {"token_id": token.id, "drift": learnt})
    shown_at = min(step_start(step - drift, token.step_seconds), attempt.now)
    delay = int((attempt.now - shown_at).total_seconds())
    return Accepted(token.adult_id, Verification.TOKEN_CODE, shown_at, late, initials=initials,
                    raw={"code_source": "token", "token_serial": token.serial,
                         "time_step": step, "token_drift_steps": drift,
                         "delay_seconds": delay, "late_code": late})


def _check_current(session: Session, attempt: Attempt, homes: list[Home]
                   ) -> Accepted | Refused | None:
    code = attempt.code
    for home in homes:
        adult_id = home.adult_id
        for token in home.tokens:
            if token.digits != len(code):
                continue
            secret = decrypt_secret(token.secret_encrypted, attempt.settings.token_secret_key)
            for step in _window_steps(token, attempt.now):
                if not attempt.budget.take(guess_cost(token.digits)):
                    return None
                attempt.comparisons += 1
                if codes_equal(totp_at_step(secret, step, token.digits), code):
                    return _accept_token(session, attempt, token, step, late=False,
                                         initials=home.initials)
        if is_sheet_code_shape(code):
            found = _check_sheets(session, attempt, adult_id, home.initials)
            if found is not None:
                return found
    return None


def _check_sheets(session: Session, attempt: Attempt, adult_id: int, initials: str
                  ) -> Accepted | Refused | None:
    digest = sheet_code_hash(attempt.code, attempt.settings.token_secret_key)
    live = session.connection().execute(_LIVE_SHEET_CODES, {"adult_id": adult_id}).all()
    per_sheet: dict[int, int] = {}
    for code_id, code_hash, position, sheet_number in live:
        if per_sheet.get(sheet_number, 0) >= SHEET_WINDOW:
            continue
        per_sheet[sheet_number] = per_sheet.get(sheet_number, 0) + 1
        if not attempt.budget.take(SHEET_CODE_COST):
            return None
        attempt.comparisons += 1
        if codes_equal(code_hash, digest):
            # Claim the code only if still unused: a concurrent text with the same code waits
            # for this transaction (row lock) and then finds it used.
            claimed = session.connection().execute(_CLAIM_SHEET_CODE, {
                "code_id": code_id, "used_at": attempt.now,
                "care_worker_id": attempt.care_worker_id, "text_id": attempt.inbound_text_id})
            if getattr(claimed, "rowcount", 1) == 0:
                return Refused(TextStatus.USED_CODE, "used_code", adult_ids=(adult_id,),
                               detail=f"sheet {sheet_number} code {position} was just used")
            return Accepted(adult_id, Verification.SHEET_CODE, attempt.now, False,
                            initials=initials, raw={"code_source": "sheet",
                                                    "sheet_number": sheet_number,
                                                    "position": position})
    return None


def _late_steps(token: TokenRow, visit: PlannedVisit, attempt: Attempt) -> list[int]:
    """The token's steps during a past planned visit (with the late window either side) that
    are older than the current window and younger than the maximum age, newest first."""
    slack = timedelta(minutes=attempt.settings.kpi.late_after)
    oldest = attempt.now - timedelta(hours=attempt.settings.sms_late_code_max_hours)
    start = max(visit.planned_start - slack, oldest)
    end = min(visit.planned_end + slack, attempt.now)
    if end <= start:
        return []
    drift = token.drift_steps
    first = time_step(start, token.step_seconds) + drift
    last = min(time_step(end, token.step_seconds) + drift,
               time_step(attempt.now, token.step_seconds) + drift - TOKEN_WINDOW_STEPS - 1)
    return list(range(last, first - 1, -1))


def _check_late(session: Session, attempt: Attempt, visits: list[PlannedVisit]
                ) -> Accepted | Refused | None:
    code = attempt.code
    seen: set[tuple[int, int]] = set()
    for visit in visits:
        for token in _tokens(session, [visit.adult_id], len(code)):
            secret = decrypt_secret(token.secret_encrypted, attempt.settings.token_secret_key)
            for step in _late_steps(token, visit, attempt):
                if (token.id, step) in seen:
                    continue
                seen.add((token.id, step))
                if not attempt.budget.take(guess_cost(token.digits)):
                    return None
                attempt.comparisons += 1
                if codes_equal(totp_at_step(secret, step, token.digits), code):
                    return _accept_token(session, attempt, token, step, late=True)
    return None


def _initials(session: Session, adult_id: int) -> str:
    return session.get_one(Adult, adult_id).initials


def _diagnose(session: Session, attempt: Attempt, adult_ids: list[int],
              late_adults: list[int]) -> Refused:
    """Words for a code that did not match: none of this can log a visit."""
    code = attempt.code
    compared = tuple(adult_ids)
    near = [*adult_ids, *(a for a in late_adults if a not in adult_ids)]
    if is_sheet_code_shape(code):
        digest = sheet_code_hash(code, attempt.settings.token_secret_key)
        rows = session.execute(
            select(SheetCode, CodeSheet).join(CodeSheet)
            .where(SheetCode.code_hash == digest)
            .order_by(CodeSheet.sheet_number.desc())).all()
        for sheet_code, sheet in rows:
            initials = _initials(session, sheet.adult_id)
            if sheet.adult_id not in near:
                return Refused(TextStatus.OTHER_CLIENT, "other_client", {"initials": initials},
                               compared, f"a code of sheet {sheet.sheet_number} of another "
                               "client")
            if sheet_code.used_at is not None:
                return Refused(TextStatus.USED_CODE, "used_code", adult_ids=compared,
                               detail=f"sheet {sheet.sheet_number} code {sheet_code.position} "
                                      "used already")
            if sheet.retired_at is not None:
                return Refused(TextStatus.SHEET_RETIRED, "sheet_retired",
                               {"initials": initials}, compared,
                               f"sheet {sheet.sheet_number} was retired")
            return Refused(TextStatus.CHECK_CODE, "sheet_order", adult_ids=compared,
                           detail=f"code {sheet_code.position} of sheet {sheet.sheet_number} is "
                                  f"past the first {SHEET_WINDOW} unused codes")
    tokens = _tokens(session, near)
    for token in tokens:
        if token.digits != len(code):
            continue
        secret = decrypt_secret(token.secret_encrypted, attempt.settings.token_secret_key)
        used_steps = session.scalars(select(TokenCodeUse.time_step).where(
            TokenCodeUse.token_id == token.id,
            TokenCodeUse.care_worker_id == attempt.care_worker_id,
            TokenCodeUse.used_at >= attempt.now - timedelta(
                hours=attempt.settings.sms_late_code_max_hours))).all()
        if any(codes_equal(totp_at_step(secret, s, token.digits), code) for s in used_steps):
            return Refused(TextStatus.USED_CODE, "used_code", adult_ids=compared,
                           detail=f"token {token.serial}: a code this carer used before")
    for token in tokens:
        secret = decrypt_secret(token.secret_encrypted, attempt.settings.token_secret_key)
        if any(near_miss(code, totp_at_step(secret, s, token.digits))
               for s in _window_steps(token, attempt.now)):
            return Refused(TextStatus.CHECK_CODE, "check_code", adult_ids=compared,
                           detail=f"one digit off a current code of token {token.serial}")
    # The carer's homes of the last days, for a code too old to count.
    recent = _tokens(session, _recent_adults(session, attempt))
    if len(code) == SHEET_CODE_LENGTH and not is_sheet_code_shape(code) and not any(
            t.digits == SHEET_CODE_LENGTH for t in [*tokens, *recent]):
        return Refused(TextStatus.CHECK_CODE, "check_code", adult_ids=compared,
                       detail="the check digit of the sheet code is wrong")
    old = _old_token_code(attempt, [t for t in recent if t.digits == len(code)])
    if old is not None:
        return Refused(TextStatus.TOO_OLD, "too_old", adult_ids=compared, detail=old)
    other = _other_client_token(session, attempt, near)
    if other is not None:
        return Refused(TextStatus.OTHER_CLIENT, "other_client",
                       {"initials": _initials(session, other)}, compared,
                       "a current code of another client's token")
    if not adult_ids:
        return Refused(TextStatus.NO_VISIT, "no_visit", adult_ids=tuple(late_adults),
                       detail="no open or planned visit of the carer near now")
    return Refused(TextStatus.UNKNOWN_CODE, "unknown_code", adult_ids=compared,
                   detail=f"no match among {attempt.comparisons} candidate codes")


def _recent_adults(session: Session, attempt: Attempt) -> list[int]:
    horizon = 2 * timedelta(hours=attempt.settings.sms_late_code_max_hours)
    return list(dict.fromkeys(session.scalars(
        select(PlannedVisit.adult_id).join(PlannedVisitCareWorker)
        .where(PlannedVisitCareWorker.care_worker_id == attempt.care_worker_id,
               PlannedVisit.planned_start >= attempt.now - horizon,
               PlannedVisit.planned_start <= attempt.now)
        .order_by(PlannedVisit.planned_start.desc()))))


def _old_token_code(attempt: Attempt, tokens: list[TokenRow]) -> str | None:
    # Back to twice the maximum age: "too old" rather than "not recognised" for a code shown
    # a day or two too long ago, or outside any planned visit of the client.
    horizon = 2 * timedelta(hours=attempt.settings.sms_late_code_max_hours)
    for token in tokens:
        secret = decrypt_secret(token.secret_encrypted, attempt.settings.token_secret_key)
        newest = time_step(attempt.now, token.step_seconds) + token.drift_steps - 1
        oldest = time_step(attempt.now - horizon, token.step_seconds) + token.drift_steps
        for step in range(newest, oldest - 1, -1):
            if codes_equal(totp_at_step(secret, step, token.digits), attempt.code):
                shown = step_start(step - token.drift_steps, token.step_seconds)
                return (f"token {token.serial} showed this code at {shown.isoformat()}, not "
                        "within a planned visit and the maximum age")
    return None


def _other_client_token(session: Session, attempt: Attempt, near: list[int]) -> int | None:
    others = session.scalars(
        select(PlannedVisit.adult_id).join(PlannedVisitCareWorker)
        .where(PlannedVisitCareWorker.care_worker_id == attempt.care_worker_id,
               PlannedVisit.planned_start <= attempt.now + OTHER_CLIENT_HORIZON,
               PlannedVisit.planned_end >= attempt.now - OTHER_CLIENT_HORIZON)).all()
    adult_ids = [a for a in dict.fromkeys(others) if a not in near]
    for token in _tokens(session, adult_ids, len(attempt.code)):
        secret = decrypt_secret(token.secret_encrypted, attempt.settings.token_secret_key)
        if any(codes_equal(totp_at_step(secret, s, token.digits), attempt.code)
               for s in _window_steps(token, attempt.now)):
            return token.adult_id
    return None


def verify_code(session: Session, code: str, care_worker_id: int, now: datetime,
                settings: Settings, inbound_text_id: int | None = None
                ) -> tuple[Accepted | Refused, Attempt]:
    """Check a code for a carer now: accepted (which home, when) or refused (why)."""
    attempt = Attempt(code, care_worker_id, now, settings, inbound_text_id=inbound_text_id)
    homes = candidate_homes(session, care_worker_id, now, settings)
    attempt.blocked_homes = [h.adult_id for h in homes if h.blocked]
    open_homes = [h for h in homes if not h.blocked]
    result = _check_current(session, attempt, open_homes)
    if result is not None:
        return result, attempt
    # Not a current code: perhaps a late one (a text held up), else words for the refusal.
    late_visits = _late_visits(session, care_worker_id, now, settings)
    blocked = set(attempt.blocked_homes) | _blocked_among(
        session, list({v.adult_id for v in late_visits if v.adult_id is not None}), now)
    late_visits = [v for v in late_visits if v.adult_id not in blocked]
    result = _check_late(session, attempt, late_visits)
    if result is None:
        late_adults = list(dict.fromkeys(v.adult_id for v in late_visits))
        result = _diagnose(session, attempt, [h.adult_id for h in open_homes], late_adults)
    return result, attempt
