"""The office dashboard at /office/: the board, the evidence behind each visit, the actions."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing the package (its models, from the CLI) must not load Flask
    from flask import Flask


def init_office(app: Flask) -> None:
    """Register the dashboard and set its session cookie policy on the app."""
    from ivr_gateway.config import INSTANCE_DIR
    from ivr_gateway.ecc.kept_reports import INLINE_VISITS

    # Each page's module adds its routes (or filters, or template globals) to the one
    # blueprint when it is imported: one line here per module.
    from ivr_gateway.office import (  # noqa: F401 - imported for their routes
        adult_views,
        alert_views,
        board_views,
        care_worker_views,
        display_views,
        formatting,
        kept_forms,
        kpi_views,
        login_views,
        on_call,
        recordings,
        rota_upload,
        send_carer_views,
        token_views,
        unmatched_views,
        user_views,
        visit_views,
    )
    from ivr_gateway.office.views import blueprint

    settings = app.extensions["settings"]
    secure = settings.is_production or settings.public_base_url.startswith("https://")
    app.config.update(
        SESSION_COOKIE_NAME="ivr_office",
        SESSION_COOKIE_HTTPONLY=True,  # scripts cannot read the session
        SESSION_COOKIE_SAMESITE="Lax",  # not sent on cross-site posts (CSRF defence in depth)
        SESSION_COOKIE_SECURE=secure,  # https only wherever the gateway is served over https
        PERMANENT_SESSION_LIFETIME=timedelta(hours=10),  # one long shift, then log in again
    )
    app.config.setdefault("OFFICE_BOARD_REFRESH_SECONDS", 15)
    # Uploaded rota files wait here for confirmation and for their import job.
    app.config.setdefault("ROTA_UPLOAD_DIR", str(INSTANCE_DIR / "rota-uploads"))
    # A KPI range with this many visits or more is worked out in the background and kept.
    app.config.setdefault("KPI_INLINE_VISITS", INLINE_VISITS)
    app.register_blueprint(blueprint)
