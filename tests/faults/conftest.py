"""The fault suite: real processes (gunicorn, schedulers, relays, a private PostgreSQL) on
PostgreSQL, killed and restarted; each test asserts nothing was lost or doubled."""

from __future__ import annotations

from tests.ecc.conftest import mock_council  # noqa: F401 - the mock council on a real port
