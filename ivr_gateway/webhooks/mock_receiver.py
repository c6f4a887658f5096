"""A mock webhook receiver (`ivr-gateway mock-webhook-receiver`): verifies, keeps, lists.

POST /webhooks checks the Standard Webhooks signature with its secret (401 if wrong), keeps
each delivery once by its webhook-id (a repeat is answered 200 and counted, as a receiver
should), and GET /webhooks lists what arrived, oldest first. For the demo and the tests; a
`down` switch answers 503 to everything, as a receiver in an outage would.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, request

from ivr_gateway.webhooks.signing import InvalidSignature, verify


@dataclass
class ReceivedStore:
    """What the receiver has been sent, in arrival order, and how often each came."""

    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    down: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ids(self) -> list[str]:
        """The webhook-ids kept, in arrival order."""
        with self.lock:
            return [r["webhook_id"] for r in self.received]

    def bodies(self) -> list[dict[str, Any]]:
        """The deliveries' JSON bodies, in arrival order."""
        with self.lock:
            return [r["body"] for r in self.received]


def create_receiver_app(secret: str, store: ReceivedStore | None = None,
                        now: Callable[[], float] = time.time) -> Flask:
    """The receiver's app, verifying with `secret` at the time `now` gives."""
    app = Flask("mock_webhook_receiver")
    kept = store if store is not None else ReceivedStore()
    app.extensions["received"] = kept

    @app.post("/webhooks")
    def receive() -> tuple[Response, int]:
        if kept.down:
            return jsonify(error="down for maintenance"), 503
        body = request.get_data(as_text=True)
        try:
            verify(secret, dict(request.headers), body, int(now()))
        except InvalidSignature as error:
            with kept.lock:
                kept.refused += 1
            return jsonify(error=str(error)), 401
        webhook_id = request.headers["webhook-id"]
        with kept.lock:
            kept.attempts[webhook_id] = kept.attempts.get(webhook_id, 0) + 1
            if kept.attempts[webhook_id] == 1:
                kept.received.append({"webhook_id": webhook_id, "body": json.loads(body),
                                      "received_at": time.time()})
        return jsonify(ok=True), 200

    @app.get("/webhooks")
    def listing() -> Response:
        with kept.lock:
            return jsonify(received=[
                {"webhook_id": r["webhook_id"], "type": r["body"].get("type"),
                 "planned_visit_ref": r["body"].get("data", {}).get("planned_visit_ref"),
                 "body": r["body"]} for r in kept.received],
                repeats=sum(n - 1 for n in kept.attempts.values()), refused=kept.refused)

    return app
