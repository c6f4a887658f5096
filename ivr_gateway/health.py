"""GET /healthz: liveness, with a database round trip."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text

from ivr_gateway import extensions

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Any:
    """200 when the database answers, 503 (with the reason) when it does not."""
    try:
        with extensions.database().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any driver error means "not healthy"; say which
        return jsonify(status="unhealthy", database=type(error).__name__), 503
    return jsonify(status="ok", database="ok")
