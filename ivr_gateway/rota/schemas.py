"""The rota's input models (adults, care workers, planned visits), shared by the API and CSV import.

Lengths of staff numbers, PINs and client numbers come from the settings, passed as validation
context: ``Model.model_validate(data, context={"settings": settings})``.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Optional

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    create_model,
    field_validator,
)
from pydantic_core import PydanticCustomError

from ivr_gateway.config import Settings
from ivr_gateway.models import Rag, VisitStatus
from ivr_gateway.phones import InvalidPhoneNumber, is_mobile, normalise
from ivr_gateway.rota.problems import REF_PATTERN

# Live-in 24-hour care is out of scope (DESIGN.md section 2); 12 hours is the longest single visit.
MAX_VISIT_HOURS = 12
MAX_CARERS_PER_VISIT = 4


Ref = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=REF_PATTERN),
    Field(description="The caller's own reference: letters, digits and . _ : - (up to 64)."),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Digits = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]+$")]
ReasonCode = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_\-]{1,64}$")
]


def _settings(info: ValidationInfo) -> Settings:
    context = info.context if isinstance(info.context, dict) else {}
    settings = context.get("settings")
    return settings if isinstance(settings, Settings) else Settings()


def _exact_length(value: str, length: int, what: str) -> str:
    if len(value) != length:
        raise PydanticCustomError(
            "digit_count",
            "{what} must be exactly {length} digits, got {got}",
            {"what": what, "length": length, "got": len(value)},
        )
    return value


def _phone(raw: str) -> str:
    try:
        return normalise(raw)
    except InvalidPhoneNumber as error:
        raise PydanticCustomError("phone_number", "{reason}", {"reason": str(error)}) from None


def _landline(raw: str) -> str:
    number = _phone(raw)
    # A call from a mobile proves nothing about where the carer is (DESIGN.md 1.3).
    if is_mobile(number):
        raise PydanticCustomError(
            "not_a_landline",
            "{number} is a mobile; only a landline in the client's home proves a carer is there",
            {"number": number},
        )
    return number


def _mobile(raw: str) -> str:
    number = _phone(raw)
    if not is_mobile(number):
        raise PydanticCustomError(
            "not_a_mobile",
            "{number} is not a mobile number; carers' texts need a mobile",
            {"number": number},
        )
    return number


Landline = Annotated[str, AfterValidator(_landline)]
Mobile = Annotated[str, AfterValidator(_mobile)]


def pin_problem(pin: str, settings: Settings, staff_number: str | None = None) -> str | None:
    """What is wrong with a new PIN, in the carer's terms, or None when it is acceptable.

    Refused: wrong length or not digits, all one digit (0000), a straight run (1234, 9876), and
    the carer's own staff number: the first guesses anyone makes.
    """
    if not pin.isdigit() or not pin.isascii():
        return "the PIN must be digits only"
    if len(pin) != settings.pin_digits:
        return f"the PIN must be exactly {settings.pin_digits} digits, got {len(pin)}"
    if len(set(pin)) == 1:
        return "the PIN is all the same digit, too easy to guess; choose another"
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    if steps in ({1}, {-1}):
        return "the PIN is a straight run of digits, too easy to guess; choose another"
    if staff_number is not None and pin == staff_number:
        return "the PIN must not be the staff number"
    return None


class _Input(BaseModel):
    # Unknown fields are refused: a typo ("landline") must not be silently ignored.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AdultIn(_Input):
    """A client as a rostering system sends it (the ref comes from the URL or the CSV row).

    Optional fields left out (or null) keep their stored value; on create they take the default.
    """

    given_name: Name
    family_name: Name
    address: Annotated[str, StringConstraints(max_length=500)] | None = None
    postcode: Annotated[str, StringConstraints(max_length=16, to_upper=True)] | None = None
    landlines: list[Landline] = Field(
        min_length=1, description="Landlines at the client's home, any UK form; stored as E.164."
    )
    rag: Rag = Field(description="The council's risk rating.")
    client_number: Digits | None = Field(
        default=None,
        description="Digits (CLIENT_NUMBER_DIGITS long, default 6); generated if left out.",
    )
    active: bool | None = None

    @field_validator("landlines")
    @classmethod
    def _distinct_landlines(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("client_number")
    @classmethod
    def _client_number_length(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        return _exact_length(value, _settings(info).client_number_digits, "client_number")


class CareWorkerIn(_Input):
    """A carer as a rostering system sends it (the ref comes from the URL or the CSV row).

    Optional fields left out (or null) keep their stored value; on create they take the default.
    A PIN given is set (or reset); it is stored only as a hash and never returned.
    """

    staff_number: Digits = Field(description="Digits keyed on the phone (STAFF_NUMBER_DIGITS).")
    given_name: Name
    family_name: Name
    pin: Digits | None = Field(
        default=None,
        description="Sets or resets the PIN (PIN_DIGITS long); not all one digit, not a run.",
        json_schema_extra={"writeOnly": True},
    )
    mobiles: list[Mobile] | None = Field(default=None, description="Mobiles, stored as E.164.")
    language: Literal["en", "pl"] | None = Field(default=None, description="Prompt language.")
    branch: Annotated[str, StringConstraints(max_length=100)] | None = None
    active: bool | None = None

    @field_validator("staff_number")
    @classmethod
    def _staff_number_length(cls, value: str, info: ValidationInfo) -> str:
        return _exact_length(value, _settings(info).staff_number_digits, "staff_number")

    @field_validator("pin")
    @classmethod
    def _pin_strength(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        problem = pin_problem(value, _settings(info), info.data.get("staff_number"))
        if problem:
            raise PydanticCustomError("weak_pin", "{problem}", {"problem": problem})
        return value

    @field_validator("mobiles")
    @classmethod
    def _distinct_mobiles(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(dict.fromkeys(value))


class PlannedVisitIn(_Input):
    """A planned visit as a rostering system sends it; every field is replaced on update."""

    adult_ref: Ref
    care_worker_refs: list[Ref] = Field(
        min_length=1, max_length=MAX_CARERS_PER_VISIT,
        description="The carers booked; two for a double-up visit.",
    )
    planned_start: AwareDatetime = Field(description="ISO 8601 with an offset, e.g. ...T08:00Z.")
    planned_end: AwareDatetime = Field(
        description=f"After planned_start, at most {MAX_VISIT_HOURS} hours later."
    )
    status: VisitStatus = VisitStatus.PLANNED
    cancel_reason: ReasonCode | None = Field(
        default=None, validate_default=True,
        description="A short reason code; required when status is cancelled.",
    )
    cancel_note: Annotated[str, StringConstraints(max_length=1000)] | None = None
    time_critical: bool = False

    @field_validator("care_worker_refs")
    @classmethod
    def _distinct_carers(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise PydanticCustomError("duplicate", "the same care worker is listed twice")
        return value

    @field_validator("planned_start")
    @classmethod
    def _start_in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @field_validator("planned_end")
    @classmethod
    def _end_after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        value = value.astimezone(UTC)
        start = info.data.get("planned_start")
        if isinstance(start, datetime):
            if value <= start:
                raise PydanticCustomError(
                    "end_before_start", "the visit must end after it starts (planned_start)"
                )
            if value - start > timedelta(hours=MAX_VISIT_HOURS):
                raise PydanticCustomError(
                    "visit_too_long",
                    "a visit may last at most {hours} hours; live-in 24-hour care is out of "
                    "scope: book it as shifts of up to {hours} hours",
                    {"hours": MAX_VISIT_HOURS},
                )
        return value

    @field_validator("cancel_reason")
    @classmethod
    def _reason_when_cancelled(cls, value: str | None, info: ValidationInfo) -> str | None:
        status = info.data.get("status")
        if status == VisitStatus.CANCELLED and not value:
            raise PydanticCustomError(
                "reason_required", "a cancelled visit needs a cancel_reason code"
            )
        if status == VisitStatus.PLANNED and value:
            raise PydanticCustomError(
                "reason_not_allowed",
                "cancel_reason is only for cancelled visits; set status to cancelled or leave "
                "it out",
            )
        return value


def validation_context(settings: Settings) -> dict[str, Any]:
    """The context the input models read digit lengths from."""
    return {"settings": settings}


class AdultView(BaseModel):
    """A client as stored."""

    ref: str
    client_number: str
    given_name: str
    family_name: str
    address: str
    postcode: str
    landlines: list[str]
    rag: Rag
    active: bool
    created_at: datetime
    updated_at: datetime


class CareWorkerView(BaseModel):
    """A carer as stored: whether a PIN is set and any lockout, never the PIN."""

    ref: str
    staff_number: str
    given_name: str
    family_name: str
    pin_set: bool
    mobiles: list[str]
    language: str
    branch: str
    active: bool
    locked_until: datetime | None = Field(
        description="Set after too many wrong PINs; the carer cannot log visits until then."
    )
    created_at: datetime
    updated_at: datetime


class PlannedVisitView(BaseModel):
    """A planned visit as stored."""

    ref: str
    adult_ref: str
    care_worker_refs: list[str]
    planned_start: datetime
    planned_end: datetime
    status: VisitStatus
    cancel_reason: str | None
    cancel_note: str | None
    time_critical: bool
    created_at: datetime
    updated_at: datetime


class LockoutView(BaseModel):
    """A carer locked out after wrong PINs, for the office to see and unlock."""

    ref: str
    staff_number: str
    given_name: str
    family_name: str
    locked_until: datetime


def _patch_model(model: type[BaseModel], doc: str) -> type[BaseModel]:
    # The PATCH body documents the same fields, each optional; a request is checked by merging
    # it into the stored record and validating the result with the full model.
    fields: dict[str, Any] = {
        name: (Optional[info.annotation], Field(default=None,  # noqa: UP045 - a runtime type
                                                description=info.description))
        for name, info in model.model_fields.items()}
    patch: type[BaseModel] = create_model(
        f"{model.__name__.removesuffix('In')}Patch", __config__=ConfigDict(extra="forbid"),
        __doc__=doc, **fields)
    return patch


_PATCH_DOC = ("A JSON merge patch (RFC 7396): only the fields given change; null clears a field "
              "that may be empty. The record, once patched, must be valid as for PUT.")
AdultPatch = _patch_model(AdultIn, _PATCH_DOC)
CareWorkerPatch = _patch_model(
    CareWorkerIn, _PATCH_DOC + ' {"pin": "..."} alone resets the PIN; {"active": false} marks a '
    "leaver (no more log-ins, evidence kept).")
PlannedVisitPatch = _patch_model(PlannedVisitIn, _PATCH_DOC)
