"""A fake of Twilio's REST API (2010-04-01 Messages and Calls), served on a local port.

Speaks just enough of the real JSON for twilio-python: POST .../Messages.json and .../Calls.json
create a resource (recorded, with its date_created in RFC 2822 as Twilio writes it), and GET of
the same paths lists them newest first, filtered by To and From as Twilio does. Tests point the
Twilio sender at it (TwilioSender(api_base_url=...)) so the real client library does the HTTP.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class FakeTwilioApi:
    """What the fake was asked: created messages and calls, and every request line."""

    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    messages: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    base_url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self, resource: str, form: dict[str, str]) -> dict[str, Any]:
        """Record a created message or call, as Twilio's JSON."""
        with self._lock:
            store = self.messages if resource == "Messages" else self.calls
            prefix = "SM" if resource == "Messages" else "CA"
            record = {"sid": f"{prefix}{len(store) + 1:032x}", "to": form.get("To", ""),
                      "from": form.get("From", ""), "body": form.get("Body", ""),
                      "status": "queued", "url": form.get("Url", ""),
                      "date_created": format_datetime(self.now().astimezone(UTC), usegmt=True),
                      "date_sent": None}
            store.append(record)
            return record

    def list(self, resource: str, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        """The resources matching To/From, newest first."""
        store = self.messages if resource == "Messages" else self.calls
        to, from_ = query.get("To", [None])[0], query.get("From", [None])[0]
        with self._lock:
            return [r for r in reversed(store)
                    if to in (None, r["to"]) and from_ in (None, r["from"])]


def _handler(api: FakeTwilioApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _resource(self) -> str | None:
            path = urlparse(self.path).path
            for resource in ("Messages", "Calls"):
                if path.endswith(f"/{resource}.json"):
                    return resource
            return None

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            api.requests.append(f"POST {self.path}")
            resource = self._resource()
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if resource is None:
                self._answer(404, {"code": 20404, "message": "not found", "status": 404})
                return
            self._answer(201, api.create(resource, form))

        def do_GET(self) -> None:
            api.requests.append(f"GET {self.path}")
            resource = self._resource()
            if resource is None:
                self._answer(404, {"code": 20404, "message": "not found", "status": 404})
                return
            parsed = urlparse(self.path)
            records = api.list(resource, parse_qs(parsed.query))
            self._answer(200, {resource.lower(): records, "first_page_uri": parsed.path,
                               "next_page_uri": None, "previous_page_uri": None, "page": 0,
                               "page_size": 50, "start": 0, "end": len(records),
                               "uri": self.path})

    return Handler


@contextmanager
def fake_twilio_api(now: Callable[[], datetime] | None = None) -> Iterator[FakeTwilioApi]:
    """Serve a FakeTwilioApi on 127.0.0.1 (a free port) for the duration of the block."""
    api = FakeTwilioApi(now=now) if now is not None else FakeTwilioApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    api.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
