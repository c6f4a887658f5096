"""Council records are queued in the transaction that causes them, versioned, in order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import select

from ivr_gateway.config import PROJECT_ROOT, KpiWindows, Settings
from ivr_gateway.db import Database
from ivr_gateway.ecc.events import queue_visit_change
from ivr_gateway.ecc.schemas import batch_schema
from ivr_gateway.models import LogKind, Verification
from ivr_gateway.outbox.models import OutboxMessage
from ivr_gateway.rota.schemas import AdultIn, CareWorkerIn, PlannedVisitIn, validation_context
from ivr_gateway.rota.service import upsert_adult, upsert_care_worker, upsert_planned_visit
from ivr_gateway.visits.changes import record_visit_corrected
from ivr_gateway.visits.recording import correct_direction
from tests.ecc.conftest import ecc_messages, log
from tests.factories import make_adult, make_care_worker, make_planned_visit

NOW = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
SCHEMA_FILE = PROJECT_ROOT / "docs" / "ecc-schema" / "ecc-records-1.0.json"


def _schema_errors(records: list[dict[str, Any]]) -> list[str]:
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{list(e.absolute_path)}: {e.message}"
            for e in validator.iter_errors({"records": records})]


def test_the_published_schema_file_is_the_one_the_code_generates() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == json.loads(json.dumps(batch_schema()))


def test_log_in_then_log_out_queue_two_versions_of_the_visit_in_one_order(
        database: Database) -> None:
    with database.unit_of_work() as session:
        adult = make_adult(session)
        carer = make_care_worker(session)
        make_planned_visit(session, adult, [carer], start=NOW)
        visit = log(session, carer.id, adult.id, NOW + timedelta(minutes=3),
                    received_after=timedelta(seconds=4)).actual_visit_id
    with database.unit_of_work() as session:
        ecc_messages(session)  # the relay renders the log-in's version (it wakes every second)
    with database.unit_of_work() as session:
        log(session, carer.id, adult.id, NOW + timedelta(minutes=33),
            verification=Verification.UNVERIFIED)
    with database.unit_of_work() as session:
        log_in, log_out = ecc_messages(session)
    assert [log_in.idempotency_key, log_out.idempotency_key] == [
        f"ecc:actual_visit:AV-{visit}:1", f"ecc:actual_visit:AV-{visit}:2"]
    assert log_in.ordering_key == log_out.ordering_key == f"ecc:visit:{visit}"
    first, second = log_in.payload, log_out.payload
    assert first["data"]["status"] == "in_progress"
    assert [c["call_assignment"] for c in first["data"]["calls"]] == ["time_in"]
    assert first["data"]["calls"][0]["delay_seconds"] == 4
    assert second["data"]["status"] == "completed"
    assert second["data"]["duration_minutes"] == 30
    assert second["data"]["calls"][0] == first["data"]["calls"][0]  # calls are never changed
    assert second["data"]["calls"][1]["verification"] == "unverified"
    assert "unverified_location" in second["data"]["exceptions"]
    assert second["sequence_id"] == 2
    assert _schema_errors([first, second]) == []


def test_changes_rendered_together_make_one_version_holding_every_call(
        database: Database) -> None:
    # The webhook only notes which visits changed; if the relay was away for both, the
    # council gets one version with both calls, never a stale one.
    with database.unit_of_work() as session:
        adult = make_adult(session)
        carer = make_care_worker(session)
        make_planned_visit(session, adult, [carer], start=NOW)
        visit = log(session, carer.id, adult.id, NOW).actual_visit_id
    with database.unit_of_work() as session:
        log(session, carer.id, adult.id, NOW + timedelta(minutes=30))
    with database.unit_of_work() as session:
        (only,) = ecc_messages(session)
    assert only.idempotency_key == f"ecc:actual_visit:AV-{visit}:1"
    assert [c["call_assignment"] for c in only.payload["data"]["calls"]] == [
        "time_in", "time_out"]


def test_a_rolled_back_log_event_queues_nothing(database: Database) -> None:
    with database.unit_of_work() as session:
        adult = make_adult(session)
        carer = make_care_worker(session)
    session = database.sessionmaker()
    log(session, carer.id, adult.id, NOW)
    session.rollback()
    session.close()
    with database.unit_of_work() as session:
        assert ecc_messages(session) == []


def test_carer_correcting_a_log_in_withdraws_the_visit_it_had_opened(database: Database) -> None:
    with database.unit_of_work() as session:
        adult = make_adult(session)
        carer = make_care_worker(session)
        make_planned_visit(session, adult, [carer], start=NOW)
        first = log(session, carer.id, adult.id, NOW)
    with database.unit_of_work() as session:
        ecc_messages(session)  # the council was told of the log-in before the carer pressed 9
    with database.unit_of_work() as session:
        corrected = correct_direction(session, first.log_event_id, NOW + timedelta(seconds=20),
                                      KpiWindows(), seq=9)
    with database.unit_of_work() as session:
        payloads = [m.payload for m in ecc_messages(session)]
    if corrected.actual_visit_id != first.actual_visit_id:
        withdrawn = [p for p in payloads if p["data"]["status"] == "withdrawn"]
        assert [p["record_id"] for p in withdrawn] == [f"AV-{first.actual_visit_id}"]
    latest = [p for p in payloads if p["record_id"] == f"AV-{corrected.actual_visit_id}"][-1]
    assert latest["data"]["calls"][-1]["call_assignment"] == "time_out"
    assert "carer_corrected_direction" in latest["data"]["exceptions"]
    assert _schema_errors(payloads) == []


def _rota(session: Any, settings: Settings, *, pin: str = "4721", cancel: bool = False) -> None:
    context = validation_context(settings)
    upsert_adult(session, "A1", AdultIn.model_validate({
        "given_name": "Joan", "family_name": "Smith", "landlines": ["01134960001"],
        "rag": "red"}, context=context), settings=settings, now=NOW, actor="test")
    upsert_care_worker(session, "C1", CareWorkerIn.model_validate({
        "staff_number": "1234", "given_name": "Amy", "family_name": "Jones", "pin": pin},
        context=context), settings=settings, now=NOW, actor="test")
    visit: dict[str, Any] = {"adult_ref": "A1", "care_worker_refs": ["C1"],
                             "planned_start": "2026-01-14T08:00:00Z",
                             "planned_end": "2026-01-14T08:30:00Z"}
    if cancel:
        visit.update(status="cancelled", cancel_reason="CLIENT_IN_HOSPITAL")
    upsert_planned_visit(session, "V1", PlannedVisitIn.model_validate(visit, context=context),
                         settings=settings, now=NOW, actor="test")


def test_rota_upserts_queue_records_when_created_or_changed_not_when_unchanged(
        database: Database, settings: Settings) -> None:
    with database.unit_of_work() as session:
        _rota(session, settings)
    with database.unit_of_work() as session:
        _rota(session, settings)  # the same again
        _rota(session, settings, pin="8052")  # only the PIN: nothing the council holds
    with database.unit_of_work() as session:
        keys = [m.idempotency_key for m in ecc_messages(session)]
    assert keys == ["ecc:adult:A1:1", "ecc:care_worker:C1:1", "ecc:planned_visit:V1:1"]
    with database.unit_of_work() as session:
        _rota(session, settings, pin="8052", cancel=True)
    with database.unit_of_work() as session:
        last = ecc_messages(session)[-1].payload
    assert last["idempotency_key"] == "ecc:planned_visit:V1:2"
    assert last["data"]["status"] == "cancelled"
    assert last["data"]["cancel_reason_code"] == "CLIENT_IN_HOSPITAL"
    with database.unit_of_work() as session:
        payloads = [m.payload for m in ecc_messages(session)]
        assert "pin" not in json.dumps(payloads).lower().replace("pin_", "")
    assert _schema_errors(payloads) == []


def test_an_office_correction_queues_the_change_before_the_visits_new_version(
        database: Database) -> None:
    with database.unit_of_work() as session:
        adult = make_adult(session)
        carer = make_care_worker(session)
        visit_id = log(session, carer.id, adult.id, NOW, kind=LogKind.IN).actual_visit_id
    with database.unit_of_work() as session:
        queue_visit_change(session, change_id="CH-1", changed_by="office:pat",
                           changed_at=NOW + timedelta(hours=1), reason_code="PHONE_FAULT",
                           memo="landline out of order", changes={"ended_at": [None, "x"]},
                           actual_visit_id=visit_id)
        from ivr_gateway.models import ActualVisit, ActualVisitState
        session.get_one(ActualVisit, visit_id).state = ActualVisitState.MISSING_LOG_OUT
        session.flush()
        queue_visit_change(session, change_id="CH-2", changed_by="office:pat",
                           changed_at=NOW + timedelta(hours=1), reason_code="OTHER", memo="",
                           changes={}, actual_visit_id=visit_id)
    with database.unit_of_work() as session:
        messages = ecc_messages(session)
        keys = [m.idempotency_key for m in messages]
        assert {m.ordering_key for m in messages} == {f"ecc:visit:{visit_id}"}
    assert keys == [f"ecc:actual_visit:AV-{visit_id}:1", "ecc:visit_change:CH-1:1",
                    "ecc:visit_change:CH-2:1", f"ecc:actual_visit:AV-{visit_id}:2"]
    with database.unit_of_work() as session:
        assert _schema_errors([m.payload for m in ecc_messages(session)]) == []
        kinds = set(session.scalars(select(OutboxMessage.kind).distinct()))
        assert kinds == {"ecc", "visit_changed"}  # records, and the domain's rows they came from


def test_a_correction_the_domain_announces_reaches_the_council_after_the_visit_it_changes(
        database: Database) -> None:
    with database.unit_of_work() as session:
        adult = make_adult(session)
        carer = make_care_worker(session)
        visit_id = log(session, carer.id, adult.id, NOW, kind=LogKind.IN).actual_visit_id
        # In the same transaction as the log-in, before anything was rendered: the change still
        # reaches the council after the visit's first version (one carer's rows go in order).
        record_visit_corrected(session, change_id="CH-1", changed_by="office:pat",
                               changed_at=NOW + timedelta(hours=1), reason_code="PHONE_FAULT",
                               memo="landline out of order", changes={"ended_at": [None, "x"]},
                               actual_visit_id=visit_id)
        make_planned_visit(session, adult, [carer], start=NOW + timedelta(days=1), ref="V9")
        record_visit_corrected(session, change_id="CH-2", changed_by="office:pat",
                               changed_at=NOW + timedelta(hours=1), reason_code="CLIENT_AWAY",
                               memo="", changes={"reason_code": [None, "CLIENT_AWAY"]},
                               planned_visit_ref="V9")
        kinds = [m.kind for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
        assert kinds == ["visit_changed", "visit_corrected", "visit_corrected"]  # nothing "ecc"
    with database.unit_of_work() as session:
        messages = ecc_messages(session)
        keys = [m.idempotency_key for m in messages]
    assert keys.index(f"ecc:actual_visit:AV-{visit_id}:1") < keys.index("ecc:visit_change:CH-1:1")
    assert "ecc:visit_change:CH-2:1" in keys and "ecc:planned_visit:V9:1" in keys
    assert _schema_errors([m.payload for m in messages]) == []


def test_pointers_the_council_package_wrote_before_the_upgrade_are_still_rendered(
        database: Database) -> None:
    from ivr_gateway.outbox.service import enqueue

    with database.unit_of_work() as session:
        adult = make_adult(session)
        carer = make_care_worker(session)
        visit_id = log(session, carer.id, adult.id, NOW).actual_visit_id
        session.execute(OutboxMessage.__table__.delete())  # as if queued by the old release:
        enqueue(session, kind="ecc_render", idempotency_key="ecc-render:log-event:1",
                payload={"care_worker_id": carer.id, "actual_visit_ids": [visit_id]}, now=NOW,
                ordering_key=f"ecc-render:carer:{carer.id}")
    with database.unit_of_work() as session:
        [record] = ecc_messages(session)
        assert record.idempotency_key == f"ecc:actual_visit:AV-{visit_id}:1"


def test_a_phone_log_in_queues_its_council_record_with_no_council_reachable(
        twilio: Any, session: Any, clock: Any) -> None:
    # No ECC_API_URL, nothing listening: the webhook only writes the outbox, in its transaction.
    from tests.ivr.calls import play

    adult = make_adult(session, landlines=("+441134960001",))
    carer = make_care_worker(session, staff_number="1234", pin="5678")
    make_planned_visit(session, adult, [carer], start=NOW, ref="V1")
    session.commit()
    clock.set(NOW + timedelta(minutes=2))
    call = play(twilio, "01134960001", "1234", "5678")
    assert call.heard[-1].startswith("Logged in at 9:02")
    (message,) = ecc_messages(session)
    data = message.payload["data"]
    assert (data["planned_visit_ref"], data["match"], data["status"]) == (
        "V1", "planned", "in_progress")
    assert data["calls"][0]["channel"] == "ivr"
    assert data["calls"][0]["verification"] == "caller_id"


def test_a_visit_that_cannot_be_rendered_is_dead_lettered_and_holds_up_no_other(
        database: Database) -> None:
    from ivr_gateway.outbox.models import OutboxStatus
    from ivr_gateway.outbox.service import enqueue

    with database.unit_of_work() as session:  # a pointer with no carer: rendering it fails
        enqueue(session, kind="ecc_render", idempotency_key="ecc-render:broken", payload={},
                now=NOW, ordering_key="ecc-render:carer:999")
        adult = make_adult(session)
        carer = make_care_worker(session)
        visit = log(session, carer.id, adult.id, NOW).actual_visit_id
    with database.unit_of_work() as session:
        [record] = ecc_messages(session)
        assert record.idempotency_key == f"ecc:actual_visit:AV-{visit}:1"
        broken = session.scalars(select(OutboxMessage).where(
            OutboxMessage.idempotency_key == "ecc-render:broken")).one()
        assert broken.status == OutboxStatus.DEAD
        assert broken.last_error is not None and "rendering failed: KeyError" in broken.last_error
