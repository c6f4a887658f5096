"""A request id for every request and webhook, echoed in X-Request-Id and on every log record
made while it is served, and one log line per request (kind, status, duration, CallSid or
MessageSid). Never the body or the query string: a form carries keyed PINs and codes, a search
carries names.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from flask import Flask, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-Id"
# Twilio sends one per webhook delivery and the same one on its retries, so a retried step logs
# under the same id as the first try.
TWILIO_IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
# What an incoming id may look like: a proxy's or Twilio's (never a line break or a 10 kB blob).
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
_SID = re.compile(r"[A-Za-z0-9]{1,64}")

log = logging.getLogger("ivr_gateway.requests")

WEBHOOK_KINDS = {"voice", "sms", "status", "alert_call"}


def request_kind(path: str) -> str:
    """Which surface a path belongs to: a label for the log and the metrics (a few values)."""
    for prefix, kind in (("/twilio/voice", "voice"), ("/twilio/sms", "sms"),
                         ("/twilio/status", "status"), ("/twilio/alert-call", "alert_call"),
                         ("/twilio/", "twilio"), ("/api/", "api"), ("/office", "office"),
                         ("/metrics", "metrics"), ("/healthz", "health")):
        if path.startswith(prefix):
            return kind
    return "other"


def current_request_id() -> str | None:
    """The id of the request being served, if any."""
    if has_request_context():
        return g.get("request_id")
    return None


def _incoming_request_id() -> str:
    for header in (REQUEST_ID_HEADER, TWILIO_IDEMPOTENCY_HEADER):
        value = request.headers.get(header, "")
        if _ACCEPTABLE_ID.fullmatch(value):
            return value
    return uuid.uuid4().hex


def _sid(name: str) -> str | None:
    """A Twilio SID from the webhook form, if it looks like one (a 10,000-character one does not
    belong in the log; the evidence keeps what was sent)."""
    if not request.path.startswith("/twilio/"):
        return None
    try:
        value = request.form.get(name, "")
    except Exception:  # a body over the limit, a broken form: the log line still goes out
        return None
    return value if _SID.fullmatch(value) else None


_installed_record_factory = False


def _install_record_factory() -> None:
    """Every log record made while a request is served carries its request id."""
    global _installed_record_factory
    if _installed_record_factory:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = current_request_id()
        return record

    logging.setLogRecordFactory(factory)
    _installed_record_factory = True


def init_request_log(app: Flask, observe: Any = None) -> None:
    """Give each request an id (first of all before-request hooks) and log it when answered.

    ``observe(kind, status, seconds)`` is called for each answered request (the metrics).
    """
    _install_record_factory()

    def _start() -> None:
        g.request_id = _incoming_request_id()
        g.request_started = time.perf_counter()

    # First: the NUL guard and the signature checks answer early, and their answers are logged
    # with an id too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)

    @app.after_request
    def _finish(response: Any) -> Any:
        request_id = g.get("request_id") or _incoming_request_id()
        response.headers[REQUEST_ID_HEADER] = request_id
        started = g.get("request_started")
        seconds = time.perf_counter() - started if started is not None else 0.0
        kind = request_kind(request.path)
        if observe is not None:
            observe(kind, response.status_code, seconds)
        # request_id comes from the record factory (as on every record made in this request).
        path = request.path[:200]  # a 10,000-character path is not worth a log line's length
        log.info("%s %s %s", request.method, path, response.status_code, extra={
            "kind": kind, "method": request.method,
            "path": path, "status": response.status_code,
            "duration_ms": round(seconds * 1000, 1), "call_sid": _sid("CallSid"),
            "message_sid": _sid("MessageSid"), "remote_addr": request.remote_addr})
        return response
