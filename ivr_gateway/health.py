"""GET /healthz: liveness, with a database round trip, and the outage spool's depth."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text

from ivr_gateway import extensions
from ivr_gateway.telephony.spool import Spool

blueprint = Blueprint("health", __name__)


def _spool() -> dict[str, Any]:
    """Calls and texts kept on disk waiting for the database: how many, and how old the oldest.

    A spool that does not drain (depth above 0 for minutes with the database "ok") is worth an
    alert: `ivr-gateway spool status` says what waits, `spool replay` records it.
    """
    try:
        depth = Spool(extensions.settings().spool_dir).depth()
    except OSError as error:
        return {"depth": None, "error": type(error).__name__}
    report: dict[str, Any] = {
        "depth": depth.depth,
        "oldest_age_seconds": depth.oldest_age_seconds(extensions.clock().now())}
    if depth.unreadable:
        report["unreadable"] = depth.unreadable
    return report


@blueprint.get("/healthz")
def healthz() -> Any:
    """200 when the database answers, 503 (with the reason) when it does not; either way with
    the outage spool's depth and the age of its oldest item."""
    spool = _spool()
    try:
        with extensions.database().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any driver error means "not healthy"; say which
        return jsonify(status="unhealthy", database=type(error).__name__, spool=spool), 503
    return jsonify(status="ok", database="ok", spool=spool)
