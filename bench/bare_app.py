"""The bare baseline for bench/ivr_load.py (and sms_load.py): a Flask app that checks the Twilio
signature (with the gateway's own function) and answers fixed TwiML, with no database and no
call flow.

It hands out the same URLs as the gateway (/twilio/voice, /twilio/voice/step/<n>, /twilio/status)
and the same shape of TwiML: a <Gather> with a <Say> (then a <Redirect> for silence, as the
gateway does) for the first BARE_TWIML_REQUESTS - 1 requests of a call, then <Say> + <Hangup>.
So the PhoneSimulator that drives the gateway drives this app through the same requests.

Run by the benchmark as: gunicorn ... bench.bare_app:app, with the environment
TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL and BARE_TWIML_REQUESTS (default 4: a log-in or log-out is
/twilio/voice, step/1 staff number, step/2 PIN, step/3 silence after the read-back).
"""

from __future__ import annotations

import os
from xml.sax.saxutils import quoteattr

from flask import Flask, Response, request

from ivr_gateway.telephony.signature import signature_matches

AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "dev-twilio-auth-token")
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "").rstrip("/")
TWIML_REQUESTS = int(os.environ.get("BARE_TWIML_REQUESTS", "4"))

VOICE = 'language="en-GB" voice="Polly.Amy"'
SAY = f"<Say {VOICE}>Please key your four digit carer number.</Say>"

app = Flask(__name__)


def _signed() -> bool:
    # The gateway's own check (telephony.signature), so both apps do the same work for it.
    signature = request.headers.get("X-Twilio-Signature", "")
    query = request.query_string.decode("latin-1")
    base = PUBLIC_BASE_URL or request.url_root.rstrip("/")
    url = base + request.path + (f"?{query}" if query else "")
    return signature_matches(AUTH_TOKEN, url, request.form, signature)


def _forbidden() -> Response:
    return Response("Forbidden: invalid or missing X-Twilio-Signature.\n", status=403,
                    mimetype="text/plain")


def _gather(next_seq: int) -> str:
    base = PUBLIC_BASE_URL or request.url_root.rstrip("/")
    action = quoteattr(f"{base}/twilio/voice/step/{next_seq}")
    silence = f"{base}/twilio/voice/step/{next_seq}?silence=1"
    return ('<?xml version="1.0" encoding="UTF-8"?><Response>'
            f'<Gather action={action} finishOnKey="" input="dtmf" method="POST" numDigits="4" '
            f'timeout="8">{SAY}</Gather><Redirect method="POST">{silence}</Redirect></Response>')


HANG_UP = ('<?xml version="1.0" encoding="UTF-8"?><Response>'
           f"<Say {VOICE}>Thank you. Goodbye.</Say><Hangup /></Response>")


def _answer(seq: int) -> Response:
    if not _signed():
        return _forbidden()
    if seq + 1 < TWIML_REQUESTS:
        return Response(_gather(seq + 1), mimetype="text/xml")
    return Response(HANG_UP, mimetype="text/xml")


@app.post("/twilio/voice")
def incoming_call() -> Response:
    """The first request of a call."""
    return _answer(0)


@app.post("/twilio/voice/step/<int:seq>")
def call_step(seq: int) -> Response:
    """A later request of a call."""
    return _answer(seq)


@app.post("/twilio/status")
def status_callback() -> Response:
    """The status callback: acknowledged, nothing kept."""
    if not _signed():
        return _forbidden()
    return Response(status=204)


MESSAGE = ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>Logged in 07:02 for J.S. '
           "Text OUT and the code when you leave.</Message></Response>")


@app.post("/twilio/sms")
def incoming_text() -> Response:
    """The baseline for bench/sms_load.py: signature checked, a fixed <Message>."""
    if not _signed():
        return _forbidden()
    return Response(MESSAGE, mimetype="text/xml")
