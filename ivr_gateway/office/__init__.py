"""The office dashboard at /office/: the board, the evidence behind each visit, the actions."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing the package (its models, from the CLI) must not load Flask
    from flask import Flask


def init_office(app: Flask) -> None:
    """Register the dashboard and set its session cookie policy on the app."""
    from ivr_gateway.config import INSTANCE_DIR
    from ivr_gateway.office import (
        board_views,  # noqa: F401 - its routes join the blueprint
        display_views,  # noqa: F401 - its routes join the blueprint
        formatting,  # noqa: F401 - its filters join the blueprint
        kept_forms,  # noqa: F401 - its template global joins the blueprint
        on_call,  # noqa: F401 - its routes join the blueprint
        recordings,  # noqa: F401 - its route joins the blueprint
        rota_upload,  # noqa: F401 - its routes join the blueprint
        send_carer_views,  # noqa: F401 - its routes join the blueprint
        unmatched_views,  # noqa: F401 - its routes join the blueprint
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
    app.register_blueprint(blueprint)
