"""The operations settings: LOG_FORMAT, METRICS_TOKEN, METRICS_ALLOWED_ADDRESSES."""

from __future__ import annotations

import pytest

from ivr_gateway.config import ConfigurationError, load_settings
from tests.test_config import DEPLOYED, STRONG


def test_logs_are_json_unless_told_otherwise() -> None:
    assert load_settings({}).log_format == "json"
    assert load_settings({"LOG_FORMAT": "text"}).log_format == "text"
    with pytest.raises(ConfigurationError, match="LOG_FORMAT"):
        load_settings({"LOG_FORMAT": "yaml"})


def test_metrics_networks_are_read_and_a_bad_one_is_named() -> None:
    settings = load_settings({"METRICS_ALLOWED_ADDRESSES": "10.0.0.0/8, 192.0.2.7"})
    assert settings.metrics_allowed_networks == ("10.0.0.0/8", "192.0.2.7/32")
    with pytest.raises(ConfigurationError, match="METRICS_ALLOWED_ADDRESSES: 'prometheus'"):
        load_settings({"METRICS_ALLOWED_ADDRESSES": "prometheus"})


def test_a_deployment_refuses_a_guessable_metrics_token() -> None:
    with pytest.raises(ConfigurationError, match="METRICS_TOKEN"):
        load_settings({**DEPLOYED, **STRONG, "METRICS_TOKEN": "metrics"})
    strong = "kP9s-2Qd7vLx8TzR4mWn6YbJ3hGf5cVa"
    assert load_settings({**DEPLOYED, **STRONG, "METRICS_TOKEN": strong}).metrics_token == strong
