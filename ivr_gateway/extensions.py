"""Typed access to what the app factory put on the current app."""

from __future__ import annotations

from typing import cast

from flask import current_app

from ivr_gateway.clock import Clock
from ivr_gateway.config import Settings
from ivr_gateway.db import Database


def settings() -> Settings:
    """The running app's settings."""
    return cast(Settings, current_app.extensions["settings"])


def database() -> Database:
    """The running app's database."""
    return cast(Database, current_app.extensions["database"])


def clock() -> Clock:
    """The running app's clock."""
    return cast(Clock, current_app.extensions["clock"])
