"""The mock council API (`ivr-gateway mock-ecc`): stands in for the council in the demo and tests.

It behaves as the council's API is specified in docs/ecc-api.md: bearer token, JSON Schema check
of every record, a repeat of an idempotency key answered with the same success, a stale
sequence_id refused. It stores what it accepts (SQLite, a file or memory) and injects faults on
request: an error rate, latency, 429 with Retry-After, outage windows, a refused record.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, request
from jsonschema import Draft202012Validator

from ivr_gateway.ecc.schemas import MAX_BATCH, batch_schema


@dataclass
class Faults:
    """What the mock gets wrong on purpose (set at start, or live through PUT /admin/faults)."""

    error_rate: float = 0.0  # share of requests answered 500
    rate_limit: float = 0.0  # share of requests answered 429
    retry_after: int = 1  # seconds, in the 429's (and the outage 503's) Retry-After
    latency_ms: int = 0  # added to every request
    down: bool = False  # an outage until switched off: every request gets 503
    outages: list[tuple[float, float]] = field(default_factory=list)  # seconds after start
    reject: list[str] = field(default_factory=list)  # record ids refused with 422-like errors

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial change from the admin endpoint; unknown names are refused."""
        for name, value in changes.items():
            if name not in self.__dataclass_fields__:
                raise ValueError(f"unknown fault {name!r}; known: "
                                 f"{', '.join(self.__dataclass_fields__)}")
            if name == "outages":
                value = [(float(a), float(b)) for a, b in value]
            setattr(self, name, value)


class MockStore:
    """What the mock council holds: every record version accepted, and every delivery seen."""

    def __init__(self, path: str = ":memory:") -> None:
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS records (
                idempotency_key TEXT PRIMARY KEY, record_type TEXT, record_id TEXT,
                sequence_id INTEGER, body TEXT, received_at REAL);
            CREATE TABLE IF NOT EXISTS latest (
                record_type TEXT, record_id TEXT, sequence_id INTEGER,
                PRIMARY KEY (record_type, record_id));
            CREATE TABLE IF NOT EXISTS deliveries (
                id INTEGER PRIMARY KEY, idempotency_key TEXT, outcome TEXT, at REAL);
        """)

    def accept(self, record: dict[str, Any], now: float) -> tuple[str, str, str]:
        """Store a valid record: ("accepted"|"duplicate"|"stale", code, message)."""
        key = record["idempotency_key"]
        kind, rid, seq = record["record_type"], record["record_id"], int(record["sequence_id"])
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                if self.db.execute("SELECT 1 FROM records WHERE idempotency_key = ?",
                                   (key,)).fetchone():
                    outcome = ("duplicate", "duplicate", "already received; nothing changed")
                else:
                    row = self.db.execute("SELECT sequence_id FROM latest WHERE record_type = ? "
                                          "AND record_id = ?", (kind, rid)).fetchone()
                    if row is not None and row[0] >= seq:
                        outcome = ("stale", "stale_sequence",
                                   f"sequence_id {seq} is not above {row[0]}, which we hold")
                    else:
                        self.db.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)",
                                        (key, kind, rid, seq, json.dumps(record), now))
                        self.db.execute("INSERT OR REPLACE INTO latest VALUES (?, ?, ?)",
                                        (kind, rid, seq))
                        outcome = ("accepted", "accepted", "stored")
                self.db.execute("INSERT INTO deliveries (idempotency_key, outcome, at) "
                                "VALUES (?, ?, ?)", (key, outcome[0], now))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return outcome

    def note(self, key: str, outcome: str, now: float) -> None:
        """Remember a delivery that was refused (for the tests' and the demo's counts)."""
        with self.lock:
            self.db.execute("INSERT INTO deliveries (idempotency_key, outcome, at) "
                            "VALUES (?, ?, ?)", (key, outcome, now))

    def records(self, record_type: str | None = None) -> list[dict[str, Any]]:
        """Accepted records in the order they arrived, with their arrival time."""
        query = "SELECT body, received_at FROM records"
        args: tuple[Any, ...] = ()
        if record_type:
            query += " WHERE record_type = ?"
            args = (record_type,)
        with self.lock:
            rows = self.db.execute(query + " ORDER BY rowid", args).fetchall()
        return [{**json.loads(body), "_received_at": at} for body, at in rows]

    def stats(self) -> dict[str, Any]:
        """Counts: records held, deliveries seen by outcome."""
        with self.lock:
            held = self.db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
            outcomes = dict(self.db.execute(
                "SELECT outcome, COUNT(*) FROM deliveries GROUP BY outcome").fetchall())
        return {"records": held, "deliveries": outcomes}

    def reset(self) -> None:
        """Forget everything."""
        with self.lock:
            self.db.executescript(
                "DELETE FROM records; DELETE FROM latest; DELETE FROM deliveries;")


def _error(status: int, code: str, message: str, retry_after: int | None = None) -> Response:
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def create_mock_app(store: MockStore, token: str, faults: Faults | None = None,
                    seed: int | None = None) -> Flask:
    """The mock council's Flask app."""
    app = Flask("ivr_gateway.ecc.mock_server")
    faults = faults or Faults()
    app.extensions["mock_faults"] = faults
    app.extensions["mock_store"] = store
    started = time.monotonic()
    rng = random.Random(seed)  # noqa: S311 - fault injection, not security
    schema = batch_schema()
    record_validator = Draft202012Validator(
        {"$ref": "#/$defs/CouncilRecord", "$defs": schema["$defs"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER)

    @app.before_request
    def _check_token() -> Response | None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or given.strip() != token:
            return _error(401, "unauthorized", "Send 'Authorization: Bearer <ECC_API_TOKEN>'.")
        return None

    @app.post("/api/v1/records")
    def post_records() -> Response:
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        elapsed = time.monotonic() - started
        if faults.down or any(a <= elapsed < b for a, b in faults.outages):
            return _error(503, "unavailable", "The council's API is down for maintenance.",
                          faults.retry_after)
        if faults.rate_limit and rng.random() < faults.rate_limit:
            return _error(429, "rate_limited", "Too many requests; slow down.",
                          faults.retry_after)
        if faults.error_rate and rng.random() < faults.error_rate:
            return _error(500, "internal_error", "Something went wrong at the council.")
        body = request.get_json(silent=True)
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or not 1 <= len(records) <= MAX_BATCH:
            return _error(400, "bad_request", f"Send {{\"records\": [1 to {MAX_BATCH} council "
                          "records]}} as application/json.")
        now = time.time()
        results = []
        for record in records:
            key = record.get("idempotency_key") if isinstance(record, dict) else None
            problems = sorted(record_validator.iter_errors(record), key=lambda e: e.path)
            if problems:
                first = problems[0]
                where = "/".join(map(str, first.absolute_path)) or "record"
                results.append({"idempotency_key": key, "status": "rejected",
                                "code": "validation_error", "message": f"{where}: {first.message}"})
                store.note(str(key), "rejected", now)
                continue
            if record["record_id"] in faults.reject:
                results.append({"idempotency_key": key, "status": "rejected",
                                "code": "record_refused",
                                "message": f"{record['record_type']} {record['record_id']} is "
                                           "refused by the council (fault injection)"})
                store.note(str(key), "rejected", now)
                continue
            outcome, code, message = store.accept(record, now)
            status = "rejected" if outcome == "stale" else "accepted"
            results.append({"idempotency_key": key, "status": status, "code": code,
                            "message": message})
        return jsonify(results=results)

    @app.get("/api/v1/records")
    def list_records() -> Response:
        return jsonify(records=store.records(request.args.get("record_type")))

    @app.get("/admin/stats")
    def stats() -> Response:
        return jsonify(**store.stats(), faults=asdict(faults))

    @app.put("/admin/faults")
    def set_faults() -> Response:
        try:
            faults.update(request.get_json(force=True) or {})
        except (ValueError, TypeError) as error:
            return _error(400, "bad_request", str(error))
        return jsonify(faults=asdict(faults))

    @app.post("/admin/reset")
    def reset() -> Response:
        store.reset()
        return jsonify(ok=True)

    return app
