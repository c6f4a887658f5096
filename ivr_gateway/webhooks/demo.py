"""The demo's webhooks: the mock receiver and the webhooks relay, in threads beside the gateway."""

from __future__ import annotations

import threading

from werkzeug.serving import make_server

from ivr_gateway.clock import Clock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.webhooks.mock_receiver import create_receiver_app
from ivr_gateway.webhooks.relay import build_webhook_relay, run_webhook_relay
from ivr_gateway.webhooks.signing import new_secret
from ivr_gateway.webhooks.subscriptions import create_subscription


def start_demo_webhooks(settings: Settings, database: Database, clock: Clock, port: int) -> str:
    """Serve the mock receiver on 127.0.0.1:port, subscribe it, relay to it; return a curl."""
    secret = new_secret()
    server = make_server("127.0.0.1", port, create_receiver_app(secret), threaded=True)
    threading.Thread(target=server.serve_forever, name="mock-webhook-receiver",
                     daemon=True).start()
    url = f"http://127.0.0.1:{port}/webhooks"
    with database.unit_of_work() as session:
        create_subscription(session, url=url, event_types=None, description="demo receiver",
                            actor="demo", now=clock.now(),
                            key_setting=settings.token_secret_key, secret=secret)
    relay = build_webhook_relay(settings, database, clock)
    threading.Thread(target=run_webhook_relay, args=(relay, settings, database, clock),
                     name="webhooks-relay", daemon=True).start()
    return f'curl -s "{url}"'
