"""The one blueprint of /api/v1, and how the app takes it in (init_api).

Each resource module (adults.py, alerts.py, texts.py, ...) adds its routes to this blueprint;
auth.py checks the bearer token before every one, and errors.py gives every answer under
/api/v1 the one error shape.
"""

from __future__ import annotations

from flask import Blueprint, Flask

URL_PREFIX = "/api/v1"

blueprint = Blueprint("api", __name__, url_prefix=URL_PREFIX)


def init_api(app: Flask) -> None:
    """Register /api/v1 on the app: every resource's routes, the token check, the errors.

    Routing errors (no such path, or method) happen before Flask knows the blueprint, so the
    app's 404 and 405 handlers hand requests under /api/v1 to errors.http_error.
    """
    from ivr_gateway.api import (  # noqa: F401 - each module adds its routes or handlers
        adults,
        alerts,
        auth,
        care_workers,
        changes,
        contacts,
        errors,
        openapi,
        outbox,
        planned_visits,
        rota,
        texts,
        visit_code_tokens,
        visits,
        webhooks,
    )

    app.register_blueprint(blueprint)
