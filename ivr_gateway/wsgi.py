"""The WSGI entries for gunicorn: settings from the environment.

- ``ivr_gateway.wsgi:app`` (Procfile ``web``): everything: the dashboard, the API, /healthz,
  /metrics and Twilio's webhooks too (so a deployment without a path router still works).
- ``'ivr_gateway.wsgi:twilio_app()'`` (Procfile ``web_twilio``): Twilio's webhooks only, with
  /healthz and /metrics, in workers no office page or API call can hold up (docs/deployment.md).

Each is built when gunicorn asks for it, so a ``web_twilio`` worker never builds the dashboard.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from ivr_gateway.app import create_app


def twilio_app() -> Flask:
    """The webhooks-only app (gunicorn: ``'ivr_gateway.wsgi:twilio_app()'``)."""
    return create_app(surface="twilio")


def __getattr__(name: str) -> Any:
    # `ivr_gateway.wsgi:app`, built on first use (PEP 562) and kept: the name gunicorn, the
    # benches and existing deployments use.
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)
