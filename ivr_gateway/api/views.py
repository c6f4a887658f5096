"""/api/v1: the JSON API for rostering systems (bearer-token auth)."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
