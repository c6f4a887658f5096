"""The council records, version 1.0: what the gateway sends to the council's API.

Borrowed from Sandata Alt-EVV (DESIGN.md section 5): separate person, worker, schedule and visit
records; a visit carries its calls as captured and never changed; corrections are visit changes
with who, when and a reason code; every record has a sequence_id that increases with each
version, so the receiver refuses a stale one. Times are ISO 8601 UTC. docs/ecc-schema/ holds the
JSON Schema generated from these models (`ivr-gateway ecc-schema`); a test keeps them equal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

SCHEMA_VERSION = "1.0"
MAX_BATCH = 100

Ref = Annotated[str, Field(min_length=1, max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdultData(_Strict):
    """A client ("service user"): who the council commissions care for."""

    person_ref: Ref = Field(description="The council's person reference (the rota's adult ref).")
    client_number: str = Field(description="The number carers key when the caller ID is withheld.")
    given_name: str
    family_name: str
    address: str
    postcode: str
    landlines: list[str] = Field(description="Registered landlines, E.164.")
    rag: Literal["red", "amber", "green"]
    active: bool


class CareWorkerData(_Strict):
    """A care worker (no PIN, no mobile numbers: the council has no need of them)."""

    worker_ref: Ref
    staff_number: str
    given_name: str
    family_name: str
    branch: str
    active: bool


class PlannedVisitData(_Strict):
    """A visit on the rota: the commissioned time (a "schedule" in EVV terms)."""

    visit_ref: Ref
    person_ref: Ref
    worker_refs: list[Ref] = Field(description="Two for a double-up visit.")
    planned_start: datetime
    planned_end: datetime
    commissioned_minutes: int
    time_critical: bool
    status: Literal["planned", "cancelled"]
    cancel_reason_code: str | None
    cancel_note: str | None


class CallData(_Strict):
    """One log-in or log-out as captured: never changed; a correction supersedes it."""

    call_id: str = Field(description="The gateway's id of the log event, stable for ever.")
    call_assignment: Literal["time_in", "time_out"]
    channel: Literal["ivr", "sms", "office"]
    verification: Literal["caller_id", "token_code", "sheet_code", "office", "unverified"]
    call_time: datetime = Field(description="When presence was proven (the call, the code).")
    received_time: datetime = Field(description="When the gateway received it.")
    delay_seconds: int = Field(description="received_time - call_time (late texts, outages).")
    originating_phone_number: str | None
    superseded_by_call_id: str | None
    superseded_reason: str | None


class ActualVisitData(_Strict):
    """One carer's visit as delivered, with its calls and the exceptions the office reviews."""

    visit_id: str = Field(description="The gateway's id of the actual visit.")
    planned_visit_ref: Ref | None = Field(description="None for an unplanned visit.")
    person_ref: Ref | None
    worker_ref: Ref
    status: Literal["in_progress", "completed", "missing_log_out", "withdrawn"] = Field(
        description="withdrawn: the visit no longer exists (the carer corrected a log-in to a "
                    "log-out); its calls live on in the visit that replaced it.")
    match: Literal["planned", "substitution", "unplanned"]
    actual_start: datetime | None
    actual_end: datetime | None
    duration_minutes: int | None
    calls: list[CallData]
    exceptions: list[str] = Field(description="Exception codes, e.g. unverified_location.")


class VisitChangeData(_Strict):
    """A correction of a visit by office staff (or the carer), with who, when and why."""

    change_id: str
    visit_id: str | None = Field(description="The actual visit changed, if any.")
    planned_visit_ref: Ref | None = Field(description="The planned visit changed, if any.")
    change_made_by: str
    change_time: datetime
    reason_code: str
    change_reason_memo: str
    changes: dict[str, Any] = Field(description="Field -> [before, after].")


class _Envelope(_Strict):
    schema_version: Literal["1.0"]
    idempotency_key: str = Field(description="ecc:<record_type>:<record_id>:<sequence_id>; "
                                 "a record sent twice has the same key.")
    record_id: str
    sequence_id: int = Field(ge=1, description="Increases with every version of the record; "
                             "the receiver refuses one lower than it holds.")
    generated_at: datetime


class AdultRecord(_Envelope):
    """Envelope of an adult."""

    record_type: Literal["adult"]
    data: AdultData


class CareWorkerRecord(_Envelope):
    """Envelope of a care worker."""

    record_type: Literal["care_worker"]
    data: CareWorkerData


class PlannedVisitRecord(_Envelope):
    """Envelope of a planned visit."""

    record_type: Literal["planned_visit"]
    data: PlannedVisitData


class ActualVisitRecord(_Envelope):
    """Envelope of an actual visit."""

    record_type: Literal["actual_visit"]
    data: ActualVisitData


class VisitChangeRecord(_Envelope):
    """Envelope of a visit change."""

    record_type: Literal["visit_change"]
    data: VisitChangeData


CouncilRecord = Annotated[
    AdultRecord | CareWorkerRecord | PlannedVisitRecord | ActualVisitRecord | VisitChangeRecord,
    Field(discriminator="record_type"),
]
RECORD_ADAPTER: TypeAdapter[Any] = TypeAdapter(CouncilRecord)


def batch_schema() -> dict[str, Any]:
    """The JSON Schema of a POST /records body: {"records": [1..100 council records]}."""
    record = RECORD_ADAPTER.json_schema(ref_template="#/$defs/{model}")
    defs = record.pop("$defs", {})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://ivr-gateway.example/ecc-schema/ecc-records-1.0.json",
        "title": f"ivr-gateway council records {SCHEMA_VERSION}",
        "type": "object",
        "additionalProperties": False,
        "required": ["records"],
        "properties": {"records": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                                   "items": {"$ref": "#/$defs/CouncilRecord"}}},
        "$defs": {**defs, "CouncilRecord": record},
    }
