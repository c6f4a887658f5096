"""POST /api/v1/rota/batch: many rota records in one request, answered item by item."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from ivr_gateway.db import Database
from ivr_gateway.models import Adult, AuditEntry, CareWorker, PlannedVisit
from ivr_gateway.outbox.models import OutboxMessage
from tests.api.conftest import TOKEN, Api, adult_body, care_worker_body, count, visit_body


def _adult(ref: str, n: int, **overrides: Any) -> dict[str, Any]:
    return {"kind": "adult", "ref": ref,
            **adult_body(**{"landlines": [f"0113 496 {n:04d}"], **overrides})}


def _carer(ref: str, n: int, **overrides: Any) -> dict[str, Any]:
    return {"kind": "care_worker", "ref": ref,
            **care_worker_body(**{"staff_number": f"{1000 + n}",
                                  "mobiles": [f"07400 1{n:05d}"], **overrides})}


def _visit(ref: str, adult: str, carer: str, **overrides: Any) -> dict[str, Any]:
    return {"kind": "planned_visit", "ref": ref,
            **visit_body(adult_ref=adult, care_worker_refs=[carer], **overrides)}


def _day(adults: int, visits_each: int, first: int = 0) -> list[dict[str, Any]]:
    # Visits first: the batch is taken in dependency order, not the order sent.
    items = [_visit(f"V{a}-{v}", f"A{a}", f"C{a}",
                    planned_start=f"2026-01-13T{8 + v:02d}:00:00Z",
                    planned_end=f"2026-01-13T{8 + v:02d}:30:00Z")
             for a in range(first, first + adults) for v in range(visits_each)]
    items += [_carer(f"C{a}", a) for a in range(first, first + adults)]
    items += [_adult(f"A{a}", a) for a in range(first, first + adults)]
    return items


def test_a_batch_creates_in_dependency_order_and_answers_each_item(api: Api,
                                                                   database: Database) -> None:
    items = _day(adults=3, visits_each=2)
    response = api.post("/rota/batch", {"items": items})
    assert response.status_code == 200
    body = response.get_json()
    assert body["stored"] is True
    assert body["counts"] == {"created": 12, "updated": 0, "unchanged": 0, "invalid": 0,
                              "skipped": 0}
    assert [(i["index"], i["ref"], i["status"]) for i in body["items"][:2]] == [
        (0, "V0-0", "created"), (1, "V0-1", "created")]
    assert (count(database, Adult), count(database, CareWorker),
            count(database, PlannedVisit)) == (3, 3, 6)
    visit = api.get("/planned-visits/V2-1").get_json()
    assert (visit["adult_ref"], visit["care_worker_refs"]) == ("A2", ["C2"])


def test_the_same_batch_again_is_unchanged_and_writes_nothing(api: Api,
                                                              database: Database) -> None:
    items = _day(adults=3, visits_each=2)
    api.post("/rota/batch", {"items": items})
    audits, outbox = count(database, AuditEntry), count(database, OutboxMessage)
    again = api.post("/rota/batch", {"items": items}).get_json()
    assert {i["status"] for i in again["items"]} == {"unchanged"}
    assert (count(database, AuditEntry), count(database, OutboxMessage)) == (audits, outbox)
    items[-1]["rag"] = "red"
    changed = api.post("/rota/batch", {"items": items}).get_json()
    assert changed["counts"]["updated"] == 1
    assert changed["items"][-1]["status"] == "updated"
    assert count(database, AuditEntry) == audits + 1
    assert count(database, OutboxMessage) == outbox + 1


def test_per_item_stores_the_valid_items_and_refuses_the_others_in_the_put_words(
        api: Api, database: Database) -> None:
    items = [_adult("A1", 1), _adult("A2", 2, landlines=["07400 900123"]),
             _carer("C1", 1), _visit("V1", "A1", "C1"), _visit("V2", "A2", "C1")]
    body = api.post("/rota/batch", {"mode": "per_item", "items": items}).get_json()
    assert [i["status"] for i in body["items"]] == [
        "created", "invalid", "created", "created", "invalid"]
    single = api.put("/adults/A2", adult_body(landlines=["07400 900123"])).get_json()["error"]
    assert body["items"][1]["error"]["fields"] == single["fields"]
    assert body["items"][4]["index"] == 4
    assert body["items"][4]["error"]["fields"] == [{
        "field": "adult_ref",
        "message": "there is no adult with ref 'A2'; send the adult first"}]
    assert (count(database, Adult), count(database, PlannedVisit)) == (1, 1)


def test_all_or_nothing_stores_nothing_when_one_item_is_invalid(api: Api,
                                                                database: Database) -> None:
    items = [_adult("A1", 1), _carer("C1", 1), _carer("C2", 2, staff_number="1001"),
             _visit("V1", "A1", "C1")]
    response = api.post("/rota/batch", {"items": items})
    assert response.status_code == 422
    body = response.get_json()
    assert body["stored"] is False
    assert [i["status"] for i in body["items"]] == ["skipped", "skipped", "invalid", "skipped"]
    assert "staff number 1001 already belongs to care worker C1" in (
        body["items"][2]["error"]["fields"][0]["message"])
    assert "per_item" in body["error"]["message"]
    assert (count(database, Adult), count(database, CareWorker), count(database, AuditEntry),
            count(database, OutboxMessage)) == (0, 0, 0, 0)


def test_a_ref_sent_twice_in_one_batch_is_refused_the_second_time(api: Api) -> None:
    items = [_adult("A1", 1), _adult("A1", 2)]
    body = api.post("/rota/batch", {"mode": "per_item", "items": items}).get_json()
    assert [i["status"] for i in body["items"]] == ["created", "invalid"]
    assert "already item 0" in body["items"][1]["error"]["message"]


def test_more_than_a_thousand_items_is_refused_with_413(api: Api, database: Database) -> None:
    response = api.post("/rota/batch", {"items": [_adult(f"A{n}", n) for n in range(1001)]})
    assert response.status_code == 413
    assert "at most 1,000 items" in response.get_json()["error"]["message"]
    assert count(database, Adult) == 0


def test_an_item_of_unknown_kind_is_answered_by_its_index(api: Api, client: Any) -> None:
    # Sent with the raw client: an unknown kind is outside the documented request schema.
    response = client.post("/api/v1/rota/batch", json={"mode": "per_item", "items": [
        {"kind": "nurse", "ref": "N1"}, _adult("A1", 1)]},
        headers={"Authorization": f"Bearer {TOKEN}"})
    body = response.get_json()
    assert response.status_code == 200
    assert body["items"][0]["status"] == "invalid"
    assert body["items"][0]["error"]["fields"][0]["field"] == "kind"
    assert body["items"][1]["status"] == "created"


@contextmanager
def _selects(database: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", note)


def test_lookups_are_one_select_per_kind_whatever_the_batch_size(api: Api,
                                                                  database: Database) -> None:
    with _selects(database) as small:
        api.post("/rota/batch", {"items": _day(adults=2, visits_each=2)})
    with _selects(database) as large:
        api.post("/rota/batch", {"items": _day(adults=40, visits_each=5, first=10)})
    assert count(database, PlannedVisit) == 4 + 200
    assert len(large) == len(small), (len(small), len(large))


def test_two_items_claiming_one_staff_number_are_told_apart(api: Api, database: Database) -> None:
    api.post("/rota/batch", {"items": [_carer("C1", 1)]})
    body = api.post("/rota/batch", {"mode": "per_item", "items": [
        _carer("C1", 1), _carer("C2", 2, staff_number="1001")]}).get_json()
    assert [i["status"] for i in body["items"]] == ["unchanged", "invalid"]
    assert count(database, CareWorker) == 1


def test_the_documented_example_loads(api: Api) -> None:
    example = api.document["components"]["schemas"]["RotaBatchIn"]["examples"][0]
    body = api.post("/rota/batch", example).get_json()
    assert [i["status"] for i in body["items"]] == ["created", "created", "created"]
