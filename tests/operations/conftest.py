"""Operations fixtures: an app whose /metrics is protected by a token."""

from __future__ import annotations

import pytest

from ivr_gateway.config import Settings
from ivr_gateway.db import Database

METRICS_TOKEN = "metrics-token-for-the-tests-Zq8vN3xK2pL7"


@pytest.fixture
def settings(database: Database) -> Settings:
    """Local settings with a metrics token."""
    return Settings(database_url=database.url, metrics_token=METRICS_TOKEN)
