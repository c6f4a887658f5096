"""The demo's council: the mock council API and a relay, in threads beside the demo gateway."""

from __future__ import annotations

import threading

from werkzeug.serving import make_server

from ivr_gateway.clock import Clock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database
from ivr_gateway.ecc.mock_server import MockStore, create_mock_app
from ivr_gateway.ecc.relay import build_relay, run_relay

DEMO_TOKEN = "demo-ecc-token"  # noqa: S105 - the local mock's token, public


def start_demo_forwarding(settings: Settings, database: Database, clock: Clock, port: int
                          ) -> str:
    """Serve the mock council on 127.0.0.1:port and relay to it; return what to curl."""
    server = make_server("127.0.0.1", port, create_mock_app(MockStore(), DEMO_TOKEN),
                         threaded=True)
    threading.Thread(target=server.serve_forever, name="mock-ecc", daemon=True).start()
    url = f"http://127.0.0.1:{port}/api/v1"
    relay = build_relay(settings.with_overrides(ecc_api_url=url, ecc_api_token=DEMO_TOKEN),
                        database, clock)
    threading.Thread(target=run_relay, args=(relay, database, clock), name="relay",
                     daemon=True).start()
    return (f'curl -s -H "Authorization: Bearer {DEMO_TOKEN}" '
            f'"{url}/records?record_type=actual_visit"')
