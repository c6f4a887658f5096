"""The app factory: the single way to build the web application."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request

from ivr_gateway import schema  # noqa: F401 - every package's tables, before mappers configure
from ivr_gateway.clock import Clock, SystemClock
from ivr_gateway.config import Settings, load_settings
from ivr_gateway.db import Database

SURFACES = ("all", "twilio")


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    clock: Clock | None = None,
    *,
    surface: str = "all",
) -> Flask:
    """Build the gateway's Flask app from settings (read from the environment if not given).

    ``surface="twilio"`` builds the webhooks-only app (Procfile ``web_twilio``): Twilio's
    webhooks, /healthz and /metrics, and nothing of the dashboard or the API, so the carers'
    calls and texts get workers of their own. ``"all"`` (``web``) serves everything.
    """
    if surface not in SURFACES:
        raise ValueError(f"surface must be one of {SURFACES}, not {surface!r}")
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings.secret_key
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024  # rota uploads; webhooks are tiny
    app.extensions["settings"] = settings
    if settings.trusted_proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # The client's address as the platform's router saw it (login throttling per address);
        # only the hops configured are believed, so a client cannot claim another address.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxy_hops)
    app.extensions["database"] = database or Database(settings.database_url)
    app.extensions["clock"] = clock or SystemClock()

    from ivr_gateway.request_guards import init_request_guards

    init_request_guards(app)  # first: the id converter binds as the routes are registered

    import logging

    from ivr_gateway.log_format import configure_logging
    from ivr_gateway.operations.metrics import init_metrics, observe_request
    from ivr_gateway.operations.request_log import init_request_log

    if not logging.getLogger().handlers:
        # Under gunicorn nothing configured the root logger; the CLI (and the demo) did.
        configure_logging(settings.log_format)
    init_request_log(app, observe=observe_request)
    init_metrics(app)

    from ivr_gateway.api.blueprint import init_api
    from ivr_gateway.api.errors import http_error as api_http_error
    from ivr_gateway.api.errors import is_api_request
    from ivr_gateway.escalation.delivery import record_status_callback
    from ivr_gateway.escalation.views import blueprint as escalation_blueprint
    from ivr_gateway.health import blueprint as health_blueprint
    from ivr_gateway.ivr.status import record_call_status
    from ivr_gateway.ivr.views import blueprint as ivr_blueprint
    from ivr_gateway.office import init_office
    from ivr_gateway.office.escalation_alerts import EscalationAlertSource
    from ivr_gateway.office.providers import register_alert_source, register_code_source
    from ivr_gateway.office.sms_codes import SmsCodeSource
    from ivr_gateway.sms.views import blueprint as sms_blueprint
    from ivr_gateway.telephony.status import subscribe_to_status
    from ivr_gateway.telephony.views import blueprint as telephony_blueprint

    app.register_blueprint(health_blueprint)
    app.register_blueprint(ivr_blueprint)
    if surface == "all":
        init_api(app)
    app.register_blueprint(telephony_blueprint)
    app.register_blueprint(sms_blueprint)
    if surface == "all":
        init_office(app)
        register_code_source(app, SmsCodeSource(settings))
        register_alert_source(app, EscalationAlertSource(settings))
    app.register_blueprint(escalation_blueprint)
    # Twilio's status callbacks: alert texts and calls (by ?notification=), then inbound calls.
    subscribe_to_status(app, record_status_callback)
    subscribe_to_status(app, record_call_status)

    if settings.serves_https:
        @app.after_request
        def _strict_transport_security(response: Any) -> Any:
            # Served over https: browsers must never fall back to http for this host (a
            # coordinator's session cookie on a café's network). One year, as OWASP advises.
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
            return response

    @app.errorhandler(404)
    def _not_found(error: Any) -> Any:
        if is_api_request():
            return api_http_error(error)
        if "office" in app.blueprints and (
                request.path == "/office" or request.path.startswith("/office/")):
            # A path no dashboard route matches (a mistyped link, an id beyond any row): the
            # dashboard's own page, not the API's JSON.
            return render_template("office/error.html", title="Not found",
                                   message="There is no such page or record."), 404
        return jsonify(error={"code": "not_found", "message": "No such page."}), 404

    @app.errorhandler(405)
    def _method_not_allowed(error: Any) -> Any:
        if is_api_request():
            return api_http_error(error)
        return jsonify(
            error={"code": "method_not_allowed", "message": "That method is not allowed here."}
        ), 405

    return app
