"""Settings come from the environment; production refuses to run on local defaults."""

from __future__ import annotations

import pytest

from ivr_gateway.config import ConfigurationError, load_settings


def test_local_run_needs_nothing_set_and_uses_sqlite_under_instance() -> None:
    settings = load_settings({})
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith("instance/ivr-gateway.sqlite3")
    assert settings.timezone == "Europe/London"
    assert settings.kpi.late_after == 30 and settings.kpi.missed_after == 120


def test_heroku_style_postgres_url_uses_the_psycopg_driver() -> None:
    settings = load_settings({"DATABASE_URL": "postgres://u:p@db:5432/ivr"})
    assert settings.database_url == "postgresql+psycopg://u:p@db:5432/ivr"


def test_production_names_every_missing_secret() -> None:
    with pytest.raises(ConfigurationError) as error:
        load_settings({"IVR_GATEWAY_ENV": "production"})
    message = str(error.value)
    for name in ("SECRET_KEY", "PIN_PEPPER", "TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID",
                 "PUBLIC_BASE_URL",
                 "DATABASE_URL", "TOKEN_SECRET_KEY"):
        assert name in message


def test_production_starts_with_its_secrets() -> None:
    settings = load_settings({
        "IVR_GATEWAY_ENV": "production", "SECRET_KEY": "x" * 40,
        "TWILIO_AUTH_TOKEN": "a" * 32, "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "PUBLIC_BASE_URL": "https://ivr.example.org/", "DATABASE_URL": "postgresql://db/ivr",
        "PIN_PEPPER": "p" * 40, "TOKEN_SECRET_KEY": "t" * 40})
    assert settings.is_production
    assert settings.public_base_url == "https://ivr.example.org"


@pytest.mark.parametrize(("name", "value"), [("KPI_LATE_AFTER_MINUTES", "half an hour"),
                                             ("PIN_DIGITS", "-4"), ("TIMEZONE", "Mars/Olympus")])
def test_a_malformed_setting_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        load_settings({name: value})


def test_production_needs_a_pin_pepper_of_its_own() -> None:
    env = {"IVR_GATEWAY_ENV": "production", "SECRET_KEY": "x" * 40,
           "TWILIO_AUTH_TOKEN": "a" * 32, "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
           "PUBLIC_BASE_URL": "https://ivr.example.org", "DATABASE_URL": "postgresql://db/ivr"}
    with pytest.raises(ConfigurationError, match="PIN_PEPPER"):
        load_settings(env)
    env["TOKEN_SECRET_KEY"] = "t" * 40
    assert load_settings({**env, "PIN_PEPPER": "p" * 40}).pin_pepper == "p" * 40


def test_the_reason_code_deadline_is_a_visit_rule_of_at_least_an_hour() -> None:
    assert load_settings({}).kpi.reason_code_due_hours == 48
    assert load_settings({"REASON_CODE_DUE_HOURS": "72"}).kpi.reason_code_due_hours == 72
    with pytest.raises(ConfigurationError, match="REASON_CODE_DUE_HOURS must be at least 1"):
        load_settings({"REASON_CODE_DUE_HOURS": "0"})
    assert not hasattr(load_settings({}).escalation, "reason_code_hours")
