"""The OpenAPI document: valid 3.1, and exactly the routes the app serves under /api/v1."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from openapi_spec_validator import validate

from ivr_gateway.api.openapi import openapi_document
from ivr_gateway.rota.schemas import AdultIn
from tests.api.conftest import Api, adult_body, schema_errors


def test_document_is_valid_openapi_3_1(api: Api) -> None:
    document = api.get("/openapi.json", token=None).get_json()
    assert document["openapi"] == "3.1.0"
    validate(document)


def _served(app: Flask) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every route the app serves under /api/v1."""
    return {
        (re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule).removeprefix("/api/v1"),
         method.lower())
        for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
        for method in rule.methods or () if method not in ("HEAD", "OPTIONS")
    }


def _documented() -> set[tuple[str, str]]:
    return {(path, method) for path, item in openapi_document()["paths"].items()
            for method in item}


def test_every_route_served_under_api_v1_is_documented(app: Flask) -> None:
    served = _served(app)
    # every resource module registered its routes (rota batch and PATCHes; changes, webhooks)
    assert len(served) == 34
    assert served - _documented() == set()


def test_every_documented_operation_is_served(app: Flask) -> None:
    adapter = app.url_map.bind("localhost")
    for path, method in sorted(_documented()):
        url = "/api/v1" + path.replace("{ref}", "R1").replace("{id}", "7")
        rule, _args = adapter.match(url, method=method.upper(), return_rule=True)
        assert rule.endpoint.startswith("api."), (path, method, rule.endpoint)
    assert _documented() == _served(app)


def test_every_authenticated_operation_documents_401_and_every_put_documents_422() -> None:
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            if operation.get("security") == []:
                continue
            assert "401" in operation["responses"], (path, method)
            assert "200" in operation["responses"] or "201" in operation["responses"]
            if method == "put":
                assert {"201", "422"} <= set(operation["responses"]), path
                assert operation["requestBody"]["required"] is True


def test_bearer_security_scheme_is_declared_for_the_whole_api() -> None:
    document = openapi_document()
    assert document["security"] == [{"bearerAuth": []}]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "ivr-gateway api-token create"}


def test_request_schema_is_the_one_the_api_validates_with() -> None:
    document = openapi_document()
    assert set(document["components"]["schemas"]["AdultIn"]["required"]) == {
        name for name, f in AdultIn.model_fields.items() if f.is_required()} == {
        "given_name", "family_name", "landlines", "rag"}
    request = document["paths"]["/adults/{ref}"]["put"]["requestBody"]["content"]
    schema = request["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/AdultIn"}
    assert schema_errors(document, schema, adult_body()) == []
    assert schema_errors(document, schema, adult_body(rag="purple")) != []
    assert schema_errors(document, schema, {**adult_body(), "landline": "x"}) != []


@pytest.mark.parametrize("body", [
    {"error": {"code": "x"}},
    {"change": "created", "adult": {"ref": "A1"}},
])
def test_schema_check_used_by_the_api_tests_does_catch_a_wrong_body(body: dict) -> None:
    # Guards the guard: tests/api/conftest.Api validates every response with schema_errors.
    document = openapi_document()
    put = document["paths"]["/adults/{ref}"]["put"]["responses"]
    response_schema = put["201" if "change" in body else "422"]["content"]["application/json"]
    assert schema_errors(document, response_schema["schema"], body) != []


def test_api_tests_exercise_every_documented_status(api: Api) -> None:
    # A small tour through the API; every response is checked against the document by Api.
    api.put("/adults/A1", adult_body())
    api.put("/adults/A1", adult_body())
    api.put("/adults/A1", adult_body(landlines=["1"]))
    api.put("/adults/A1", data="x", headers={"Content-Type": "text/plain"})
    api.get("/adults/A2")
    api.get("/visits?date=2026-01-13")
    api.get("/visits?date=13/01/2026")
    api.get("/lockouts", token="wrong")
    assert {status for _m, _p, status in api.checked} == {200, 201, 400, 401, 404, 422}
