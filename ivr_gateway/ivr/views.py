"""/twilio/voice: the carer's call."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("ivr", __name__)
