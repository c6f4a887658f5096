"""PUT and GET /api/v1/adults/<ref>: clients upserted by the rostering system's own reference."""

from __future__ import annotations

from sqlalchemy import select

from ivr_gateway.db import Database
from ivr_gateway.models import Adult, AdultLandline, AuditEntry
from tests.api.conftest import Api, adult_body, count


def test_new_adult_is_created_with_landlines_in_e164_and_a_generated_client_number(
        api: Api) -> None:
    response = api.put("/adults/A1", adult_body(landlines=["020 7946 0001", "+44 113 496 0002"]))
    assert response.status_code == 201
    body = response.get_json()
    assert body["change"] == "created"
    adult = body["adult"]
    assert adult["ref"] == "A1"
    assert adult["landlines"] == ["+442079460001", "+441134960002"]
    assert adult["postcode"] == "CM1 1AA"
    assert adult["rag"] == "amber"
    assert adult["active"] is True
    assert len(adult["client_number"]) == 6 and adult["client_number"].isdigit()
    assert adult["created_at"] == "2026-01-13T09:00:00Z"
    assert api.get("/adults/A1").get_json() == adult


def test_same_adult_sent_twice_is_unchanged_the_second_time_and_audited_once(
        api: Api, database: Database) -> None:
    assert api.put("/adults/A1", adult_body()).status_code == 201
    again = api.put("/adults/A1", adult_body())
    assert again.status_code == 200
    assert again.get_json()["change"] == "unchanged"
    with database.unit_of_work() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.entity == "adult")).all()
        assert [(a.action, a.entity_ref, a.actor) for a in audit] == [
            ("create", "A1", "api:rostering")]


def test_changed_adult_is_updated_and_the_audit_names_what_changed(
        api: Api, database: Database) -> None:
    first = api.put("/adults/A1", adult_body()).get_json()["adult"]
    response = api.put("/adults/A1", adult_body(rag="red", landlines=["020 7946 0009"]))
    assert response.status_code == 200
    body = response.get_json()
    assert body["change"] == "updated"
    assert body["adult"]["rag"] == "red"
    assert body["adult"]["landlines"] == ["+442079460009"]
    assert body["adult"]["client_number"] == first["client_number"]
    assert count(database, AdultLandline) == 1
    with database.unit_of_work() as session:
        update = session.scalars(select(AuditEntry).where(AuditEntry.action == "update")).one()
        assert update.detail["changes"] == {
            "rag": ["amber", "red"], "landlines": [["+442079460001"], ["+442079460009"]]}


def test_fields_left_out_keep_their_stored_value(api: Api) -> None:
    api.put("/adults/A1", adult_body(client_number="123456"))
    body = adult_body()
    del body["address"]
    del body["postcode"]
    response = api.put("/adults/A1", body)
    assert response.get_json()["change"] == "unchanged"
    assert response.get_json()["adult"]["address"] == "1 High Street, Chelmsford"
    assert response.get_json()["adult"]["client_number"] == "123456"


def test_invalid_landline_is_refused_with_the_field_named_and_nothing_stored(
        api: Api, database: Database) -> None:
    response = api.put("/adults/A1", adult_body(landlines=["020 7946 0001", "12345"]))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert [f["field"] for f in error["fields"]] == ["landlines[1]"]
    assert "'12345' is not a valid phone number" in error["fields"][0]["message"]
    assert count(database, Adult) == 0
    assert count(database, AuditEntry) == 0


def test_missing_fields_and_wrong_types_are_each_named(api: Api, database: Database) -> None:
    response = api.put("/adults/A1", {"given_name": 7, "landlines": [], "rag": "purple",
                                      "active": "perhaps", "landline": "020 7946 0001"})
    assert response.status_code == 422
    fields = {f["field"]: f["message"] for f in response.get_json()["error"]["fields"]}
    assert set(fields) == {"given_name", "family_name", "landlines", "rag", "active", "landline"}
    assert fields["family_name"] == "this field is required"
    assert "valid string" in fields["given_name"]
    assert "'red', 'amber' or 'green'" in fields["rag"]
    assert "unknown field" in fields["landline"]
    assert count(database, Adult) == 0


def test_client_number_must_have_the_configured_number_of_digits(api: Api) -> None:
    response = api.put("/adults/A1", adult_body(client_number="12ab"))
    assert response.get_json()["error"]["fields"] == [
        {"field": "client_number", "message": "digits only"}]
    response = api.put("/adults/A1", adult_body(client_number="1234"))
    assert response.get_json()["error"]["fields"] == [
        {"field": "client_number", "message": "client_number must be exactly 6 digits, got 4"}]


def test_client_number_of_another_adult_is_refused(api: Api) -> None:
    api.put("/adults/A1", adult_body(client_number="123456"))
    response = api.put("/adults/A2", adult_body(client_number="123456"))
    assert response.status_code == 422
    [problem] = response.get_json()["error"]["fields"]
    assert problem["field"] == "client_number"
    assert "already belongs to adult A1" in problem["message"]


def test_reference_with_spaces_is_refused(api: Api, database: Database) -> None:
    response = api.put("/adults/A%201", adult_body())
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"][0]["field"] == "ref"
    assert count(database, Adult) == 0


def test_unknown_adult_is_404(api: Api) -> None:
    response = api.get("/adults/NOPE")
    assert response.status_code == 404
    assert response.get_json() == {"error": {
        "code": "not_found", "message": "There is no adult with ref 'NOPE'."}}


def test_body_that_is_not_json_is_400_and_stores_nothing(api: Api, database: Database) -> None:
    response = api.put("/adults/A1", data="given_name=Joan",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"
    assert "application/json" in response.get_json()["error"]["message"]
    broken = api.put("/adults/A1", data="{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert api.put("/adults/A1", ["a", "list"]).status_code == 400
    assert count(database, Adult) == 0


def test_mobile_number_is_refused_as_a_landline(api: Api, database: Database) -> None:
    response = api.put("/adults/A1", adult_body(landlines=["07400 123456"]))
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == [{
        "field": "landlines[0]", "message": "+447400123456 is a mobile; only a landline in the "
        "client's home proves a carer is there"}]
    assert count(database, Adult) == 0
