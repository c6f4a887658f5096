"""API test fixtures: a live token, and a client that checks every exchange against the OpenAPI."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from ivr_gateway.api.models import ApiToken
from ivr_gateway.api.openapi import openapi_document
from ivr_gateway.db import Base, Database
from ivr_gateway.hashing import hash_api_token

TOKEN = "ivr_test-token-for-the-rostering-system"


def schema_errors(document: dict[str, Any], schema: dict[str, Any], instance: Any) -> list[str]:
    """Every way `instance` breaks `schema` (refs resolved against the document's components)."""
    root = {**schema, "components": document["components"]}
    validator = Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(instance)]


def operation_for(app: Flask, method: str, url: str) -> tuple[str, dict[str, Any]]:
    """The documented operation a request lands on: (OpenAPI path, operation object)."""
    path = url.split("?", 1)[0]
    rule, _args = app.url_map.bind("localhost").match(path, method=method, return_rule=True)
    template = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule).removeprefix("/api/v1")
    document = openapi_document()
    return template, document["paths"][template][method.lower()]


class Api:
    """Calls /api/v1 and checks the request and the response against the OpenAPI document."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app = app
        self.client = client
        self.document = openapi_document()
        self.checked: list[tuple[str, str, int]] = []

    def call(self, method: str, path: str, json: Any = None, *, token: str | None = TOKEN,
             headers: dict[str, str] | None = None, data: str | None = None) -> TestResponse:
        """Send a request; assert the response matches the documented schema for its status."""
        url = "/api/v1" + path
        all_headers = dict(headers or {})
        if token is not None:
            all_headers.setdefault("Authorization", f"Bearer {token}")
        response = self.client.open(url, method=method, json=json, data=data,
                                    headers=all_headers)
        template, operation = operation_for(self.app, method, url)
        documented = operation["responses"]
        assert str(response.status_code) in documented, (
            f"{method} {template} answered {response.status_code}, which is not documented")
        schema = documented[str(response.status_code)]["content"]["application/json"]["schema"]
        body = response.get_json()
        errors = schema_errors(self.document, schema, body)
        assert not errors, f"{method} {template} {response.status_code} breaks its schema: {errors}"
        if json is not None and response.status_code < 300:
            request_schema = operation["requestBody"]["content"]["application/json"]["schema"]
            errors = schema_errors(self.document, request_schema, json)
            assert not errors, f"an accepted request body breaks the request schema: {errors}"
        self.checked.append((method, template, response.status_code))
        return response

    def put(self, path: str, json: Any = None, **kwargs: Any) -> TestResponse:
        """PUT with a JSON body."""
        return self.call("PUT", path, json, **kwargs)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        """GET."""
        return self.call("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> TestResponse:
        """POST."""
        return self.call("POST", path, json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> TestResponse:
        """PATCH with a JSON (merge patch) body."""
        return self.call("PATCH", path, json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        """DELETE."""
        return self.call("DELETE", path, **kwargs)


@pytest.fixture
def api_token(session: Session) -> ApiToken:
    """A live token called 'rostering' whose secret is TOKEN."""
    token = ApiToken(name="rostering", token_hash=hash_api_token(TOKEN),
                     created_at=datetime(2026, 1, 1, tzinfo=UTC))
    session.add(token)
    session.commit()
    return token


@pytest.fixture
def api(app: Flask, client: FlaskClient, api_token: ApiToken) -> Api:
    """The API client, authorised with a live token."""
    return Api(app, client)


def adult_body(**overrides: Any) -> dict[str, Any]:
    """A valid adult PUT body."""
    body: dict[str, Any] = {
        "given_name": "Joan", "family_name": "Smith", "address": "1 High Street, Chelmsford",
        "postcode": "cm1 1aa", "landlines": ["020 7946 0001"], "rag": "amber",
    }
    body.update(overrides)
    return body


def care_worker_body(**overrides: Any) -> dict[str, Any]:
    """A valid care worker PUT body."""
    body: dict[str, Any] = {
        "staff_number": "4821", "given_name": "Amy", "family_name": "Jones",
        "mobiles": ["07400 123456"], "language": "en", "branch": "Chelmsford",
    }
    body.update(overrides)
    return body


def visit_body(**overrides: Any) -> dict[str, Any]:
    """A valid planned visit PUT body (adult A1, carer C1, 08:00-08:30 UTC on 13 Jan 2026)."""
    body: dict[str, Any] = {
        "adult_ref": "A1", "care_worker_refs": ["C1"],
        "planned_start": "2026-01-13T08:00:00Z", "planned_end": "2026-01-13T08:30:00Z",
    }
    body.update(overrides)
    return body


def count(database: Database, model: type[Base]) -> int:
    """Rows in a table, read in a short transaction of its own."""
    with database.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0
