"""A rostering system's side of ivr-gateway, using only `requests` (and the standard library).

    python docs/examples/rostering_client.py --url http://127.0.0.1:5000 --token ivr_... load
    python docs/examples/rostering_client.py --url ... --token ... follow [--once]
    python docs/examples/rostering_client.py receive --port 8080 --secret whsec_...

`load` sends a day's rota in one request (POST /api/v1/rota/batch), falling back to one PUT per
record on a gateway without the batch endpoint. `follow` reads the change feed from the cursor
kept in a file and applies each entry to a local copy (here a JSON file). `receive` is a
webhook endpoint that verifies Standard Webhooks signatures with plain hmac and base64.
See docs/integration.md.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import requests

# A day's rota as your system would export it: clients, carers, then their visits.
DAY: list[dict[str, Any]] = [
    {"type": "adult", "ref": "A-100", "data": {
        "given_name": "Joan", "family_name": "Smith", "address": "1 High Street, Chelmsford",
        "postcode": "CM1 1AA", "landlines": ["01134960001"], "rag": "amber"}},
    {"type": "care_worker", "ref": "CW-7", "data": {
        "staff_number": "4821", "given_name": "Amy", "family_name": "Jones",
        "mobiles": ["07400123456"], "pin": "2580"}},
    {"type": "planned_visit", "ref": "PV-2001", "data": {
        "adult_ref": "A-100", "care_worker_refs": ["CW-7"],
        "planned_start": "2026-01-13T08:00:00Z", "planned_end": "2026-01-13T08:30:00Z"}},
]
PUT_PATHS = {"adult": "adults", "care_worker": "care-workers", "planned_visit": "planned-visits"}


class Gateway:
    """The gateway's /api/v1 with a bearer token."""

    def __init__(self, base_url: str, token: str) -> None:
        self.api = base_url.rstrip("/") + "/api/v1"
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def load_day(self, items: list[dict[str, Any]]) -> list[str]:
        """Send the day in one request, or one PUT per record if the batch endpoint is absent;
        one line per record saying what happened."""
        # A batch item is its PUT body with the record's kind and ref (up to 1,000 a request).
        batch = [{"kind": item["type"], "ref": item["ref"], **item["data"]} for item in items]
        response = self.http.post(f"{self.api}/rota/batch",
                                  json={"mode": "per_item", "items": batch}, timeout=120)
        if response.status_code != 404:
            response.raise_for_status()
            return [f"{result['kind']} {result['ref']}: {result['status']}"
                    + (f": refused: {result['error']['message']}" if result.get("error") else "")
                    for result in response.json()["items"]]
        lines = []
        for item in items:  # dependency order: clients and carers before their visits
            put = self.http.put(f"{self.api}/{PUT_PATHS[item['type']]}/{item['ref']}",
                                json=item["data"], timeout=30)
            if put.status_code >= 400:
                lines.append(f"{item['type']} {item['ref']}: refused: "
                             f"{put.json()['error']['message']}")
            else:
                lines.append(f"{item['type']} {item['ref']}: {put.json()['change']}")
        return lines

    def changes(self, after: str | None, limit: int = 500) -> dict[str, Any]:
        """One page of the change feed after a cursor (None: from the beginning)."""
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        response = self.http.get(f"{self.api}/changes", params=params, timeout=30)
        response.raise_for_status()
        return dict(response.json())


def apply_entry(copy: dict[str, Any], entry: dict[str, Any]) -> None:
    """Keep the local copy in step: the entry's visit replaces what we held of it."""
    if entry["visit"] is not None:
        copy["visits"][entry["planned_visit_ref"]] = entry["visit"]
    if entry["actual_visit"] is not None:
        copy["actual_visits"][str(entry["actual_visit"]["id"])] = entry["actual_visit"]


def follow(gateway: Gateway, state_file: Path, *, once: bool = False,
           poll_seconds: float = 10.0) -> dict[str, Any]:
    """Read the feed from the kept cursor, applying each page, saving the cursor with it."""
    state = (json.loads(state_file.read_text()) if state_file.exists()
             else {"cursor": None, "visits": {}, "actual_visits": {}})
    while True:
        page = gateway.changes(state["cursor"])
        for entry in page["changes"]:
            apply_entry(state, entry)
            print(entry["type"], entry["planned_visit_ref"],
                  (entry["visit"] or {}).get("outcome"))
        state["cursor"] = page["next_cursor"]
        # The copy and the cursor are saved together: after a crash the page is read again,
        # and applying an entry twice changes nothing.
        state_file.write_text(json.dumps(state))
        if page["more"]:
            continue
        if once:
            return dict(state)
        time.sleep(poll_seconds)


def verify_webhook(secret: str, headers: dict[str, str], body: bytes,
                   tolerance: int = 300, now: float | None = None) -> bool:
    """Whether a delivery is signed with `secret` (Standard Webhooks) and recent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    webhook_id = lowered.get("webhook-id", "")
    timestamp = lowered.get("webhook-timestamp", "")
    if not webhook_id or not timestamp.isdigit():
        return False
    if abs((now if now is not None else time.time()) - int(timestamp)) > tolerance:
        return False  # too old (or from the future): a replay
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = webhook_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(version == "v1" and hmac.compare_digest(signature, expected)
               for version, _, signature in (s.partition(",") for s in
                                             lowered.get("webhook-signature", "").split()))


def receive(port: int, secret: str) -> None:
    """A webhook endpoint: 401 for a bad signature, 200 once stored (print, here)."""
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if not verify_webhook(secret, dict(self.headers), body):
                self.send_response(401)
                self.end_headers()
                return
            if self.headers["webhook-id"] not in seen:  # a retry of one we have: no-op
                seen.add(self.headers["webhook-id"])
                event = json.loads(body)
                print(event["type"], event["data"]["planned_visit_ref"])
            self.send_response(200)
            self.end_headers()

    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


def main() -> None:
    """The command line above."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--token", default="")
    parser.add_argument("--state", default="rostering-copy.json", type=Path)
    parser.add_argument("command", choices=["load", "follow", "receive"])
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--secret", default="")
    args = parser.parse_args()
    if args.command == "receive":
        receive(args.port, args.secret)
        return
    gateway = Gateway(args.url, args.token)
    if args.command == "load":
        print("\n".join(gateway.load_day(DAY)))
    else:
        follow(gateway, args.state, once=args.once)


if __name__ == "__main__":
    main()
