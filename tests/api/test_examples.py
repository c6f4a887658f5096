"""Every /api/v1 operation shows a real example (scripts/generate-api-examples), and each still
validates against the operation's own models: an example that drifted from a model fails here
(regenerate them with the script)."""

from __future__ import annotations

from flask import Flask

from ivr_gateway.api.openapi import OPERATIONS, openapi_document, recorded_examples
from ivr_gateway.config import Settings
from ivr_gateway.rota.schemas import validation_context


def test_every_operation_has_a_recorded_example_of_a_success() -> None:
    examples = recorded_examples()
    assert sorted(examples) == sorted(op.operation_id for op in OPERATIONS)
    for op in OPERATIONS:
        assert examples[op.operation_id]["status"] in op.ok, op.operation_id


def test_each_example_validates_against_the_operations_models() -> None:
    examples = recorded_examples()
    context = validation_context(Settings())
    for op in OPERATIONS:
        recorded = examples[op.operation_id]
        model = op.ok[recorded["status"]]
        if model is not None:
            model.model_validate(recorded["response"])
        if op.request is not None:
            assert recorded["request"] is not None, op.operation_id
            op.request.model_validate(recorded["request"], context=context)


def test_the_served_document_shows_them(app: Flask) -> None:
    served = app.test_client().get("/api/v1/openapi.json").get_json()
    assert served == openapi_document()
    missing = []
    for path, operations in served["paths"].items():
        for method, operation in operations.items():
            if operation["operationId"] == "getOpenApi":
                continue
            shown = [r["content"]["application/json"].get("example")
                     for status, r in operation["responses"].items() if status.startswith("2")]
            body = operation.get("requestBody", {}).get("content", {}).get(
                "application/json", {})
            if not any(e is not None for e in shown) or ("requestBody" in operation
                                                         and "example" not in body):
                missing.append(f"{method.upper()} {path}")
    assert missing == []
