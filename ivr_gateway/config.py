"""Settings: read once from the environment into one typed object (12-factor)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ivr_gateway.escalation_policy import EscalationPolicy, load_policy

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"

# Local-only defaults, published here: used only by a local run (see uses_local_defaults); any
# other start refuses to run on them (see check_secrets).
DEV_SECRET_KEY = "dev-secret-key-not-for-production"  # noqa: S105 - public, local-only
DEV_TWILIO_AUTH_TOKEN = "dev-twilio-auth-token"  # noqa: S105 - a public, local-only value
DEV_PIN_PEPPER = "dev-pin-pepper-not-for-production"
DEV_TWILIO_ACCOUNT_SID = "AC00000000000000000000000000000000"
DEV_TWILIO_PHONE_NUMBER = "+441134960000"  # Ofcom's drama range: never a real line
DEV_TOKEN_SECRET_KEY = "dev-token-secret-key-not-for-production"  # noqa: S105 - local-only


class ConfigurationError(RuntimeError):
    """The environment does not describe a runnable gateway; the message says what to set."""


@dataclass(frozen=True)
class KpiWindows:
    """Minutes that turn times into outcomes (DESIGN.md defaults; Schedule 2 may set others)."""

    late_after: int = 30
    missed_after: int = 120
    log_out_chase_after: int = 15
    short_tolerance: int = 0
    match_window: int = 180
    # A missed or cancelled visit's reason code is due this many hours after its planned start,
    # weekends included (DESIGN.md section 2): a visit rule, read by whoever judges a visit.
    reason_code_due_hours: int = 48


@dataclass(frozen=True)
class Settings:
    """Everything the gateway reads from its environment, with safe local defaults."""

    environment: str = "development"
    database_url: str = ""
    secret_key: str = DEV_SECRET_KEY
    pin_pepper: str = DEV_PIN_PEPPER
    twilio_account_sid: str = DEV_TWILIO_ACCOUNT_SID
    twilio_auth_token: str = DEV_TWILIO_AUTH_TOKEN
    twilio_phone_number: str = DEV_TWILIO_PHONE_NUMBER
    # Where Twilio keeps recordings: the dashboard fetches a concern's audio only from here.
    twilio_api_base: str = "https://api.twilio.com"
    public_base_url: str = ""
    ecc_api_url: str = ""
    ecc_api_token: str = ""
    timezone: str = "Europe/London"
    staff_number_digits: int = 4
    pin_digits: int = 4
    client_number_digits: int = 6
    kpi: KpiWindows = field(default_factory=KpiWindows)
    pin_lockout_failures: int = 5
    pin_lockout_minutes: int = 15
    callflow_dir: Path = PROJECT_ROOT / "callflows"
    # SMS visit codes: the key that encrypts token secrets and keys sheet-code hashes, and how
    # old a token code may be and still count (the council's 48-hour reconciliation window).
    token_secret_key: str = DEV_TOKEN_SECRET_KEY
    sms_late_code_max_hours: int = 48
    escalation: EscalationPolicy = field(default_factory=EscalationPolicy)
    # How many proxies in front of the web process append X-Forwarded-For (a platform's router:
    # 1); 0 trusts none. The office login throttles by the client address this gives.
    trusted_proxy_hops: int = 0
    # Where the voice and SMS webhooks keep carers' input while the database cannot be reached
    # (ivr_gateway/telephony/spool.py): a local disk the web and scheduler processes share.
    spool_dir: Path = INSTANCE_DIR / "spool"
    # Operations: the log's format (JSON by default; the demo writes text), and who may read
    # /metrics: a bearer token, and/or source networks (CIDR); neither set: /metrics is a 404.
    log_format: str = "json"
    metrics_token: str = ""
    metrics_allowed_networks: tuple[str, ...] = ()

    @property
    def tz(self) -> ZoneInfo:
        """The zone times are shown and spoken in."""
        return ZoneInfo(self.timezone)

    @property
    def is_production(self) -> bool:
        """True when running for real carers, where local defaults are refused."""
        return self.environment == "production"

    @property
    def serves_https(self) -> bool:
        """True when the gateway is reached over https (cookies secure, HSTS sent)."""
        return self.public_base_url.startswith("https://")

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests, the demo)."""
        return replace(self, **changes)


def default_sqlite_url() -> str:
    """The embedded database: a file under instance/, created on first use."""
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{INSTANCE_DIR / 'ivr-gateway.sqlite3'}"


def normalise_database_url(url: str) -> str:
    """Accept the postgres:// URLs hosting platforms hand out and use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative, got {value}")
    return value


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list of addresses or CIDR networks, each checked."""
    import ipaddress

    networks = []
    for item in (env.get(name) or "").split(","):
        if item.strip():
            try:
                networks.append(str(ipaddress.ip_network(item.strip(), strict=False)))
            except ValueError:
                raise ConfigurationError(
                    f"{name}: {item.strip()!r} is not an address or network (10.0.0.0/8)"
                ) from None
    return tuple(networks)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from the environment once; ConfigurationError names what is wrong."""
    env = os.environ if env is None else env
    kpi = KpiWindows(
        late_after=_int(env, "KPI_LATE_AFTER_MINUTES", 30),
        missed_after=_int(env, "KPI_MISSED_AFTER_MINUTES", 120),
        log_out_chase_after=_int(env, "KPI_LOG_OUT_CHASE_AFTER_MINUTES", 15),
        short_tolerance=_int(env, "KPI_SHORT_TOLERANCE_MINUTES", 0),
        match_window=_int(env, "MATCH_WINDOW_MINUTES", 180),
        reason_code_due_hours=_int(env, "REASON_CODE_DUE_HOURS", 48),
    )
    if kpi.reason_code_due_hours < 1:
        raise ConfigurationError("REASON_CODE_DUE_HOURS must be at least 1, "
                                 f"got {kpi.reason_code_due_hours}")
    timezone = env.get("TIMEZONE") or "Europe/London"
    try:
        ZoneInfo(timezone)
    except Exception:
        raise ConfigurationError(f"TIMEZONE {timezone!r} is not a known IANA zone") from None
    environment = env.get("IVR_GATEWAY_ENV", "development")
    try:
        escalation = load_policy(env, production=environment == "production")
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    settings = Settings(
        environment=environment,
        database_url=normalise_database_url(env.get("DATABASE_URL") or default_sqlite_url()),
        secret_key=env.get("SECRET_KEY") or DEV_SECRET_KEY,
        pin_pepper=env.get("PIN_PEPPER") or DEV_PIN_PEPPER,
        twilio_account_sid=env.get("TWILIO_ACCOUNT_SID") or DEV_TWILIO_ACCOUNT_SID,
        twilio_auth_token=env.get("TWILIO_AUTH_TOKEN") or DEV_TWILIO_AUTH_TOKEN,
        twilio_phone_number=env.get("TWILIO_PHONE_NUMBER") or DEV_TWILIO_PHONE_NUMBER,
        twilio_api_base=(env.get("TWILIO_API_BASE") or "https://api.twilio.com").rstrip("/"),
        public_base_url=(env.get("PUBLIC_BASE_URL") or "").rstrip("/"),
        ecc_api_url=env.get("ECC_API_URL", ""),
        ecc_api_token=env.get("ECC_API_TOKEN", ""),
        timezone=timezone,
        staff_number_digits=_int(env, "STAFF_NUMBER_DIGITS", 4),
        pin_digits=_int(env, "PIN_DIGITS", 4),
        client_number_digits=_int(env, "CLIENT_NUMBER_DIGITS", 6),
        kpi=kpi,
        pin_lockout_failures=_int(env, "PIN_LOCKOUT_FAILURES", 5),
        pin_lockout_minutes=_int(env, "PIN_LOCKOUT_MINUTES", 15),
        token_secret_key=env.get("TOKEN_SECRET_KEY") or DEV_TOKEN_SECRET_KEY,
        sms_late_code_max_hours=_int(env, "SMS_LATE_CODE_MAX_HOURS", 48),
        escalation=escalation,
        trusted_proxy_hops=_int(env, "TRUSTED_PROXY_HOPS", 0),
        spool_dir=Path(env.get("SPOOL_DIR") or INSTANCE_DIR / "spool"),
        log_format=env.get("LOG_FORMAT") or "json",
        metrics_token=env.get("METRICS_TOKEN", ""),
        metrics_allowed_networks=_networks(env, "METRICS_ALLOWED_ADDRESSES"),
    )
    if settings.log_format not in ("json", "text"):
        raise ConfigurationError(f"LOG_FORMAT must be json or text, not {settings.log_format!r}")
    check_secrets(settings, env)
    return settings


LOCAL_ENVIRONMENTS = frozenset({"development", "test"})


def uses_local_defaults(settings: Settings, env: Mapping[str, str]) -> bool:
    """True for a run that may use the published local secrets: the demo, a laptop, the tests.

    That is IVR_GATEWAY_ENV=test (the test suite's own processes, on SQLite or PostgreSQL), or a
    development run (IVR_GATEWAY_ENV unset or ``development``) on the embedded SQLite database
    and not served over https. Anything else looks like a real deployment (the Procfile sets no
    IVR_GATEWAY_ENV; a PostgreSQL database or an https address gives it away) and must bring
    its own secrets: DESIGN.md principle 7, safe by default.
    """
    environment = env.get("IVR_GATEWAY_ENV") or "development"
    if environment == "test":
        return True
    return (environment == "development" and settings.database_url.startswith("sqlite")
            and not settings.serves_https)


def check_secrets(settings: Settings, env: Mapping[str, str]) -> None:
    """Refuse to start on published or guessable secrets: name every problem at once."""
    from ivr_gateway.secret_strength import secret_weakness

    if uses_local_defaults(settings, env):
        return
    why = ("IVR_GATEWAY_ENV=production" if settings.is_production else
           "This is not a local run (IVR_GATEWAY_ENV is "
           f"{env.get('IVR_GATEWAY_ENV') or 'unset'}, DATABASE_URL is "
           f"{'SQLite' if settings.database_url.startswith('sqlite') else 'not SQLite'}, "
           f"PUBLIC_BASE_URL is {'https' if settings.serves_https else 'not https'}), so it")
    problems = []
    generated = [
        ("SECRET_KEY", settings.secret_key, DEV_SECRET_KEY, ""),
        ("PIN_PEPPER", settings.pin_pepper, DEV_PIN_PEPPER, "; changing it voids every PIN"),
        ("TOKEN_SECRET_KEY", settings.token_secret_key, DEV_TOKEN_SECRET_KEY,
         "; it encrypts the visit-code token secrets, so keep it with the database backups' keys"),
    ]
    for name, value, default, note in generated:
        if not env.get(name) or value == default:
            problems.append(f"{name} (not set: at least 32 random characters{note})")
        elif (weakness := secret_weakness(value)) is not None:
            problems.append(f"{name} (too weak: {weakness})")
    if not env.get("TWILIO_AUTH_TOKEN") or settings.twilio_auth_token == DEV_TWILIO_AUTH_TOKEN:
        problems.append("TWILIO_AUTH_TOKEN (not set: the auth token of your Twilio account)")
    elif (weakness := secret_weakness(settings.twilio_auth_token, min_distinct=8,
                                      min_bits=80)) is not None:
        problems.append(f"TWILIO_AUTH_TOKEN (too weak: {weakness})")
    if not env.get("TWILIO_ACCOUNT_SID") or settings.twilio_account_sid == DEV_TWILIO_ACCOUNT_SID:
        problems.append("TWILIO_ACCOUNT_SID (not set: your Twilio account's AC... SID)")
    if settings.metrics_token and (weakness := secret_weakness(settings.metrics_token)):
        problems.append(f"METRICS_TOKEN (too weak: {weakness})")
    if settings.is_production and not settings.serves_https:
        problems.append("PUBLIC_BASE_URL (the https:// address Twilio calls)")
    if settings.is_production and settings.database_url.startswith("sqlite"):
        problems.append("DATABASE_URL (PostgreSQL in production)")
    if problems:
        raise ConfigurationError(f"{why} needs these set: " + ", ".join(problems))
