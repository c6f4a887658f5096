"""The rota service without HTTP: plain values in, plain results out, an audit row per change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.config import Settings
from ivr_gateway.models import AuditEntry
from ivr_gateway.rota.schemas import AdultIn, CareWorkerIn, PlannedVisitIn, validation_context
from ivr_gateway.rota.service import (
    InvalidRota,
    upsert_adult,
    upsert_care_worker,
    upsert_planned_visit,
)

NOW = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)


def _adult(settings: Settings, **overrides: object) -> AdultIn:
    data = {"given_name": "Joan", "family_name": "Smith", "landlines": ["020 7946 0001"],
            "rag": "green", **overrides}
    return AdultIn.model_validate(data, context=validation_context(settings))


def test_generated_client_numbers_follow_the_configured_length_and_differ(
        session: Session) -> None:
    settings = Settings(client_number_digits=8)
    numbers = {upsert_adult(session, f"A{n}", _adult(settings), settings=settings, now=NOW,
                            actor="test").view.client_number for n in range(20)}
    assert len(numbers) == 20
    assert all(len(n) == 8 and n.isdigit() and n[0] != "0" for n in numbers)


def test_configured_lengths_are_read_from_the_settings() -> None:
    settings = Settings(staff_number_digits=6, pin_digits=6)
    carer = CareWorkerIn.model_validate(
        {"staff_number": "482100", "given_name": "Amy", "family_name": "Jones", "pin": "385019"},
        context=validation_context(settings))
    assert carer.pin == "385019"
    with pytest.raises(ValidationError):
        CareWorkerIn.model_validate(
            {"staff_number": "4821", "given_name": "Amy", "family_name": "Jones"},
            context=validation_context(settings))


def test_each_change_is_audited_with_actor_and_time(session: Session) -> None:
    settings = Settings()
    upsert_adult(session, "A1", _adult(settings), settings=settings, now=NOW, actor="cli:office")
    upsert_adult(session, "A1", _adult(settings), settings=settings, now=NOW, actor="cli:office")
    result = upsert_adult(session, "A1", _adult(settings, rag="red"), settings=settings,
                          now=NOW, actor="api:roster")
    assert (result.change, result.changed_fields) == ("updated", ["rag"])
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor, e.at) for e in entries] == [
        ("create", "cli:office", NOW), ("update", "api:roster", NOW)]


def test_carer_fields_left_out_keep_their_values(session: Session) -> None:
    settings = Settings()
    full = CareWorkerIn(staff_number="4821", given_name="Amy", family_name="Jones",
                        mobiles=["07400 123456"], language="pl", branch="Harlow")
    upsert_care_worker(session, "C1", full, settings=settings, now=NOW, actor="test")
    names_only = CareWorkerIn(staff_number="4821", given_name="Amy", family_name="Jones")
    result = upsert_care_worker(session, "C1", names_only, settings=settings, now=NOW,
                                actor="test")
    assert result.change == "unchanged"
    assert (result.view.mobiles, result.view.language, result.view.branch) == (
        ["+447400123456"], "pl", "Harlow")


def test_visit_for_unknown_people_raises_with_each_field_named(session: Session) -> None:
    visit = PlannedVisitIn(adult_ref="A9", care_worker_refs=["C9"],
                           planned_start=datetime(2026, 1, 13, 8, tzinfo=UTC),
                           planned_end=datetime(2026, 1, 13, 9, tzinfo=UTC))
    with pytest.raises(InvalidRota) as raised:
        upsert_planned_visit(session, "V1", visit, settings=Settings(), now=NOW, actor="test")
    assert [f.field for f in raised.value.fields] == ["adult_ref", "care_worker_refs[0]"]
