"""Settings come from the environment; production refuses to run on local defaults."""

from __future__ import annotations

import secrets

import pytest

from ivr_gateway.app import create_app
from ivr_gateway.config import (
    DEV_SECRET_KEY,
    DEV_TWILIO_AUTH_TOKEN,
    ConfigurationError,
    load_settings,
)
from ivr_gateway.db import Database

STRONG = {"SECRET_KEY": "k9Qv2LxT7mWb4RzN8cYh3JpF6sDe1GuA5oKiV0nMtE",
          "PIN_PEPPER": "Zp4Xr8Lm2Qw6Ty0Ui3Oa7Sd1Fg5Hj9Kl-Zx_Cv8Bn4",
          "TOKEN_SECRET_KEY": "Mn7Bv3Cx9Zl5Kj1Hg8Fd4Sa0Po6Iu2Yt7Re3Wq9Ea1",
          "TWILIO_AUTH_TOKEN": "9f2c4e8a1b7d3f60e5c9a2b8d4f1e7c3",
          "TWILIO_ACCOUNT_SID": "AC" + "3b7e1f9a2c8d4e6f0a5b9c1d7e3f2a8b"}


def test_local_run_needs_nothing_set_and_uses_sqlite_under_instance() -> None:
    settings = load_settings({})
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith("instance/ivr-gateway.sqlite3")
    assert settings.timezone == "Europe/London"
    assert settings.kpi.late_after == 30 and settings.kpi.missed_after == 120


def test_heroku_style_postgres_url_uses_the_psycopg_driver() -> None:
    settings = load_settings({"DATABASE_URL": "postgres://u:p@db:5432/ivr", **STRONG})
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
        "IVR_GATEWAY_ENV": "production", **STRONG,
        "PUBLIC_BASE_URL": "https://ivr.example.org/", "DATABASE_URL": "postgresql://db/ivr"})
    assert settings.is_production
    assert settings.public_base_url == "https://ivr.example.org"


@pytest.mark.parametrize(("name", "value"), [("KPI_LATE_AFTER_MINUTES", "half an hour"),
                                             ("PIN_DIGITS", "-4"), ("TIMEZONE", "Mars/Olympus")])
def test_a_malformed_setting_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        load_settings({name: value})


def test_production_needs_a_pin_pepper_of_its_own() -> None:
    env = {"IVR_GATEWAY_ENV": "production", **STRONG,
           "PUBLIC_BASE_URL": "https://ivr.example.org", "DATABASE_URL": "postgresql://db/ivr"}
    del env["PIN_PEPPER"]
    with pytest.raises(ConfigurationError, match="PIN_PEPPER"):
        load_settings(env)
    assert load_settings({**env, "PIN_PEPPER": STRONG["PIN_PEPPER"]}).pin_pepper == (
        STRONG["PIN_PEPPER"])


# The Procfile sets no IVR_GATEWAY_ENV: a deployment on PostgreSQL behind https.
DEPLOYED = {"DATABASE_URL": "postgresql://db/ivr", "PUBLIC_BASE_URL": "https://ivr.example.org"}


@pytest.mark.parametrize("env", [
    DEPLOYED,
    {"DATABASE_URL": "postgresql://db/ivr"},
    {"PUBLIC_BASE_URL": "https://ivr.example.org"},
    {"IVR_GATEWAY_ENV": "staging"},
    {**DEPLOYED, "IVR_GATEWAY_ENV": "development"},
], ids=["procfile", "postgresql", "https", "unknown-env", "development-on-postgresql"])
def test_a_start_that_is_not_local_refuses_the_published_secrets(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError) as error:
        load_settings(env)
    for name in ("SECRET_KEY", "PIN_PEPPER", "TOKEN_SECRET_KEY", "TWILIO_AUTH_TOKEN",
                 "TWILIO_ACCOUNT_SID"):
        assert name in str(error.value)


def test_the_published_defaults_count_as_not_set_even_when_given_explicitly() -> None:
    with pytest.raises(ConfigurationError, match=r"SECRET_KEY \(not set"):
        load_settings({**DEPLOYED, **STRONG, "SECRET_KEY": DEV_SECRET_KEY})
    with pytest.raises(ConfigurationError, match=r"TWILIO_AUTH_TOKEN \(not set"):
        load_settings({**DEPLOYED, **STRONG, "TWILIO_AUTH_TOKEN": DEV_TWILIO_AUTH_TOKEN})


def test_a_deployment_with_its_own_secrets_starts() -> None:
    settings = load_settings({**DEPLOYED, **STRONG})
    assert settings.secret_key == STRONG["SECRET_KEY"]
    assert settings.twilio_auth_token == STRONG["TWILIO_AUTH_TOKEN"]


@pytest.mark.parametrize("name", ["SECRET_KEY", "PIN_PEPPER", "TOKEN_SECRET_KEY"])
@pytest.mark.parametrize("weak", [
    "x" * 40,                                  # one letter repeated
    "abcd" * 10,                               # a short run repeated
    "aabbccddeeffgghhaabbccddeeffgghhaabbcc",  # eight characters, shuffled about
    "password-password-password-passw0rd!",    # few distinct characters
    "short-but-random-9fX",                    # too short
])
def test_a_weak_secret_is_refused_by_name(name: str, weak: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"{name} \(too weak"):
        load_settings({**DEPLOYED, **STRONG, name: weak})


def test_a_twilio_auth_token_of_one_repeated_character_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"TWILIO_AUTH_TOKEN \(too weak"):
        load_settings({**DEPLOYED, **STRONG, "TWILIO_AUTH_TOKEN": "a" * 32})


def test_generated_secrets_pass() -> None:
    for _ in range(50):
        env = {**DEPLOYED, **STRONG, "SECRET_KEY": secrets.token_urlsafe(32),
               "PIN_PEPPER": secrets.token_hex(32), "TOKEN_SECRET_KEY": secrets.token_urlsafe(48),
               "TWILIO_AUTH_TOKEN": secrets.token_hex(16)}
        settings = load_settings(env)  # would raise ConfigurationError on a refused secret
        assert (settings.secret_key, settings.pin_pepper, settings.twilio_auth_token) == (
            env["SECRET_KEY"], env["PIN_PEPPER"], env["TWILIO_AUTH_TOKEN"])


def test_the_demo_and_the_tests_need_nothing_set() -> None:
    assert load_settings({}).secret_key == DEV_SECRET_KEY  # a laptop on SQLite (make demo)
    assert load_settings({"IVR_GATEWAY_ENV": "test", "DATABASE_URL": "postgresql://db/t"}
                         ).secret_key == DEV_SECRET_KEY  # the test suite's own processes


def test_https_deployments_send_strict_transport_security(database: Database) -> None:
    settings = load_settings({**DEPLOYED, **STRONG}).with_overrides(database_url=database.url)
    response = create_app(settings, database).test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    local = create_app(load_settings({}).with_overrides(database_url=database.url), database)
    assert "Strict-Transport-Security" not in local.test_client().get("/healthz").headers


def test_the_reason_code_deadline_is_a_visit_rule_of_at_least_an_hour() -> None:
    assert load_settings({}).kpi.reason_code_due_hours == 48
    assert load_settings({"REASON_CODE_DUE_HOURS": "72"}).kpi.reason_code_due_hours == 72
    with pytest.raises(ConfigurationError, match="REASON_CODE_DUE_HOURS must be at least 1"):
        load_settings({"REASON_CODE_DUE_HOURS": "0"})
    assert not hasattr(load_settings({}).escalation, "reason_code_hours")
