"""On call and alert contacts on the dashboard: managers add, edit, link, deactivate and put
people on call (local times, stored UTC); coordinators read; every change is audited."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr_gateway.clock import FixedClock
from ivr_gateway.db import Database
from ivr_gateway.escalation.models import ContactRole, OfficeContact, OnCallPeriod
from ivr_gateway.models import AuditEntry
from ivr_gateway.office.models import OfficeUser
from tests.office.conftest import Office

OLU = "+447911123456"


def _contacts(database: Database) -> list[tuple[str, str, str, bool, int | None]]:
    with database.unit_of_work() as db:
        return [(c.name, c.role.value, c.mobile, c.active, c.office_user_id)
                for c in db.scalars(select(OfficeContact).order_by(OfficeContact.id))]


def _periods(database: Database) -> list[tuple[datetime, datetime]]:
    with database.unit_of_work() as db:
        return [(p.starts_at, p.ends_at)
                for p in db.scalars(select(OnCallPeriod).order_by(OnCallPeriod.id))]


def _audit(database: Database, entity: str) -> list[tuple[str, str, dict[str, object]]]:
    with database.unit_of_work() as db:
        return [(a.action, a.actor, a.detail) for a in db.scalars(
            select(AuditEntry).where(AuditEntry.entity == entity).order_by(AuditEntry.id))]


def _contact(session: Session, name: str = "Olu Bello", mobile: str = OLU,
             role: ContactRole = ContactRole.ON_CALL) -> OfficeContact:
    contact = OfficeContact(name=name, role=role, mobile=mobile, active=True,
                            created_at=datetime(2026, 1, 1, tzinfo=UTC))
    session.add(contact)
    session.commit()
    return contact


def test_a_manager_adds_a_contact_linked_to_an_office_user(
        as_manager: Office, manager: OfficeUser, database: Database) -> None:
    page = as_manager.post("/office/on-call/contacts", {
        "name": " Olu   Bello ", "role": "on_call", "mobile": "07911 123456",
        "office_user_id": str(manager.id)}, follow_redirects=True).get_data(as_text=True)
    assert "Contact Olu Bello added." in page
    assert _contacts(database) == [("Olu Bello", "on_call", OLU, True, manager.id)]
    # Shown in UK national format, with the linked user's name.
    assert ('<td><a href="tel:+447911123456">07911 123456</a></td><td>Max (max)</td>'
            '<td>yes</td>') in page
    assert _audit(database, "office_contact") == [
        ("create", "office:max", {"role": "on_call", "office_user_id": manager.id})]


def test_a_landline_or_a_taken_mobile_is_refused_in_words(
        as_manager: Office, session: Session, database: Database) -> None:
    _contact(session)
    page = as_manager.post("/office/on-call/contacts", {
        "name": "Sam", "role": "coordinator", "mobile": "020 7946 0001"},
        follow_redirects=True).get_data(as_text=True)
    assert "+442079460001 is not a mobile; alerts are texted, so give a mobile number." in page
    page = as_manager.post("/office/on-call/contacts", {
        "name": "Sam", "role": "coordinator", "mobile": "+44 7911 123456"},
        follow_redirects=True).get_data(as_text=True)
    assert "+447911123456 already belongs to a contact" in page
    assert len(_contacts(database)) == 1


def test_a_manager_edits_a_contact_and_the_audit_shows_before_and_after(
        as_manager: Office, session: Session, database: Database, manager: OfficeUser) -> None:
    olu = _contact(session)
    page = as_manager.get(f"/office/on-call/contacts/{olu.id}").get_data(as_text=True)
    assert 'value="07911 123456"' in page  # the form shows the national format too
    page = as_manager.post(f"/office/on-call/contacts/{olu.id}", {
        "name": "Olu Bello-Smith", "role": "manager", "mobile": "07911 123789",
        "office_user_id": str(manager.id)}, follow_redirects=True).get_data(as_text=True)
    assert "Contact saved." in page
    assert _contacts(database) == [("Olu Bello-Smith", "manager", "+447911123789", True,
                                    manager.id)]
    [(action, actor, detail)] = _audit(database, "office_contact")
    assert (action, actor) == ("update", "office:max")
    assert detail["before"] == {"name": "Olu Bello", "role": "on_call", "mobile": OLU,
                                "office_user_id": None}
    assert detail["after"] == {"name": "Olu Bello-Smith", "role": "manager",
                               "mobile": "+447911123789", "office_user_id": manager.id}
    # Saving again unchanged writes nothing.
    as_manager.post(f"/office/on-call/contacts/{olu.id}", {
        "name": "Olu Bello-Smith", "role": "manager", "mobile": "+447911123789",
        "office_user_id": str(manager.id)})
    assert len(_audit(database, "office_contact")) == 1


def test_deactivating_a_contact_asks_first_then_takes_them_off_the_ladder(
        as_manager: Office, session: Session, database: Database) -> None:
    olu = _contact(session)
    page = as_manager.get(f"/office/on-call/contacts/{olu.id}/deactivate").get_data(
        as_text=True)
    assert "Deactivate Olu Bello?" in page and "07911 123456" in page
    assert _contacts(database)[0][3] is True  # asking changed nothing
    page = as_manager.post(f"/office/on-call/contacts/{olu.id}/deactivate",
                           follow_redirects=True).get_data(as_text=True)
    assert "Contact deactivated: the ladder no longer reaches them." in page
    assert _contacts(database)[0][3] is False
    as_manager.post(f"/office/on-call/contacts/{olu.id}/reactivate")
    assert _contacts(database)[0][3] is True
    assert [(a, actor) for a, actor, _ in _audit(database, "office_contact")] == [
        ("deactivate", "office:max"), ("activate", "office:max")]
    page = as_manager.post("/office/on-call/contacts/999/deactivate",
                           follow_redirects=True).get_data(as_text=True)
    assert "No office contact 999." in page


def test_an_on_call_period_across_the_october_clock_change_is_stored_in_utc(
        as_manager: Office, session: Session, database: Database) -> None:
    olu = _contact(session)
    # Saturday 18:00 BST to Sunday 08:00 GMT: the clocks go back at 02:00, a 15-hour night.
    page = as_manager.post("/office/on-call/periods", {
        "contact_id": str(olu.id), "starts_at": "2026-10-24T18:00",
        "ends_at": "2026-10-25T08:00"}, follow_redirects=True).get_data(as_text=True)
    assert "On-call period added." in page
    [(starts, ends)] = _periods(database)
    assert starts == datetime(2026, 10, 24, 17, 0, tzinfo=UTC)
    assert ends == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)
    assert (ends - starts).total_seconds() == 15 * 3600
    [(action, actor, detail)] = _audit(database, "on_call_period")
    assert (action, actor, detail["contact_id"]) == ("create", "office:max", olu.id)


def test_a_start_in_the_spring_gap_is_refused(as_manager: Office, session: Session,
                                              database: Database) -> None:
    olu = _contact(session)
    page = as_manager.post("/office/on-call/periods", {
        "contact_id": str(olu.id), "starts_at": "2026-03-29T01:30",
        "ends_at": "2026-03-29T08:00"}, follow_redirects=True).get_data(as_text=True)
    assert "The start does not exist on that day: the clocks went forward" in page
    assert _periods(database) == []


def test_removing_a_period_asks_first_and_is_audited(
        as_manager: Office, session: Session, database: Database, clock: FixedClock) -> None:
    olu = _contact(session)
    as_manager.post("/office/on-call/periods", {
        "contact_id": str(olu.id), "starts_at": "2026-01-13T18:00",
        "ends_at": "2026-01-14T08:00"})
    page = as_manager.get("/office/on-call").get_data(as_text=True)
    assert "<td>Tue 13 Jan 18:00</td><td>Wed 14 Jan 08:00</td><td>Olu Bello</td>" in page
    with database.unit_of_work() as db:
        period_id = db.scalars(select(OnCallPeriod.id)).one()
    page = as_manager.get(f"/office/on-call/periods/{period_id}/remove").get_data(as_text=True)
    assert "Remove Olu Bello&#39;s on-call period?" in page
    assert "Tue 13 Jan 18:00 to Wed 14 Jan 08:00" in page
    assert len(_periods(database)) == 1
    page = as_manager.post(f"/office/on-call/periods/{period_id}/remove",
                           follow_redirects=True).get_data(as_text=True)
    assert "On-call period removed." in page
    assert _periods(database) == []
    assert [a for a, _, _ in _audit(database, "on_call_period")] == ["create", "delete"]


def test_a_coordinator_reads_the_contacts_but_cannot_change_them(
        as_coordinator: Office, session: Session, database: Database) -> None:
    olu = _contact(session)
    page = as_coordinator.get("/office/on-call").get_data(as_text=True)
    assert "Olu Bello" in page and "07911 123456" in page
    assert "Add an alert contact" not in page and "Put someone on call" not in page
    assert as_coordinator.post("/office/on-call/contacts", {
        "name": "Sam", "role": "coordinator", "mobile": "07911 123999"}).status_code == 403
    assert as_coordinator.get(f"/office/on-call/contacts/{olu.id}").status_code == 403
    assert as_coordinator.post(f"/office/on-call/contacts/{olu.id}", {
        "name": "X", "role": "manager", "mobile": OLU}).status_code == 403
    assert as_coordinator.post(
        f"/office/on-call/contacts/{olu.id}/deactivate").status_code == 403
    assert as_coordinator.post("/office/on-call/periods", {
        "contact_id": str(olu.id), "starts_at": "2026-01-13T18:00",
        "ends_at": "2026-01-14T08:00"}).status_code == 403
    assert _contacts(database) == [("Olu Bello", "on_call", OLU, True, None)]
    assert _periods(database) == []


def test_an_administrator_may_manage_contacts_and_a_form_without_csrf_is_refused(
        as_administrator: Office, session: Session, database: Database) -> None:
    olu = _contact(session)
    response = as_administrator.client.post(f"/office/on-call/contacts/{olu.id}/deactivate")
    assert response.status_code == 400
    assert _contacts(database)[0][3] is True
    as_administrator.post(f"/office/on-call/contacts/{olu.id}/deactivate")
    assert _contacts(database)[0][3] is False
