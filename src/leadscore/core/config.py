"""Settings from environment variables (prefix ``LEADSCORE_``).

Nothing reads the environment at import time: callers ask ``get_settings()``
(cached) or build ``Settings()`` themselves, and FastAPI receives it through a
dependency, so tests override it instead of patching a module global.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from leadscore.core.errors import LeadscoreError

DATABASE_SCHEMES = ("sqlite", "postgresql")
REDIS_SCHEMES = ("redis", "rediss", "unix")
BROKER_SCHEMES = ("amqp", "amqps")


class ConfigError(LeadscoreError):
    """A setting is wrong; the message names the variable and says why."""


def _check_scheme(variable: str, url: str, allowed: tuple[str, ...]) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in allowed:
        raise ValueError(
            f"{variable}={mask_url(url)!s} is not a valid URL: expected a scheme "
            f"of {', '.join(s + '://' for s in allowed)}"
        )
    if scheme != "sqlite" and scheme != "unix" and not parts.hostname:
        raise ValueError(f"{variable}={mask_url(url)} has no host name")
    try:
        parts.port  # raises ValueError on a port that is not a number
    except ValueError:
        raise ValueError(f"{variable}={mask_url(url)} has an invalid port") from None
    return url


# One rate in the ``limits`` notation, a strict subset of what it parses: "600/minute",
# "10 per second", "1000/5 minutes". Also the OpenAPI pattern of the keys API.
RATE_PATTERN = r"^[1-9][0-9]{0,8}( ?/ ?| per )([1-9][0-9]{0,5} )?(second|minute|hour|day|month|year)s?$"


def check_rate_limit(value: str) -> str:
    """Validate and normalise one rate such as ``600/minute`` or ``10 per second``."""
    import re

    from limits import parse_many

    normalised = value.strip().lower()
    if re.fullmatch(RATE_PATTERN, normalised) and len(parse_many(normalised)) == 1:
        return normalised
    raise ValueError(
        f"rate limit {value[:60]!r} is not valid: use one rate like '600/minute', "
        "'10/second' or '5000 per hour'"
    )


def mask_url(url: str | None) -> str | None:
    """Hide the password in a URL so settings can be printed or logged."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LEADSCORE_", env_ignore_empty=True, extra="ignore"
    )

    home: Path = Field(
        default_factory=lambda: Path.home() / ".leadscore",
        description="Data directory for the embedded database, models and reports.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is a SQLite file in LEADSCORE_HOME.",
    )
    redis_url: str | None = Field(default=None, description="Unset: in-process cache.")
    broker_url: str | None = Field(default=None, description="Unset: in-process queue.")
    log_level: str = Field(default="INFO")
    timezone: str = Field(
        default="UTC",
        description="Time zone the dashboard shows times in (IANA name, e.g. America/Los_Angeles); stored times are UTC.",
    )
    import_batch_size: int = Field(default=2000, ge=1, le=100_000)
    auto_upgrade: bool = Field(
        default=True, description="Apply database migrations on first use."
    )
    rate_limit: str = Field(
        default="600/minute",
        description="Default per-API-key rate (a key may override it), e.g. '600/minute'.",
    )
    login_failures_per_account: str = Field(
        default="10/15 minutes",
        description="Failed dashboard logins allowed per account before the form answers 429, e.g. '10/15 minutes'.",
    )
    login_failures_per_client: str = Field(
        default="50/15 minutes",
        description="Failed dashboard logins allowed per client address (an office shares one), e.g. '50/15 minutes'.",
    )
    key_pepper: SecretStr | None = Field(
        default=None,
        description="Server-side secret mixed into API-key hashes. Unset: generated once "
        "into LEADSCORE_HOME/key_pepper. Set it (same value everywhere) when several "
        "machines share one database.",
    )
    key_cache_seconds: float = Field(
        default=30.0, ge=0, le=3600,
        description="How long a validated API key is trusted without a database lookup; "
        "a key revoked in another process stops working within this time.",
    )
    keep_alive_seconds: float = Field(
        default=75.0, gt=0, le=3600,
        description="How long `leadscore serve` keeps an idle client connection open. Longer than "
        "client pools keep idle connections (httpx: 5 s) and than proxies' idle time-outs (nginx: 75 s), "
        "because a server that closes first races the client's next request on that connection, "
        "which then fails with a reset (uvicorn's 5 s default lost event posts this way in "
        "benchmarks/run_api.py).",
    )
    cache_warm_leads: int = Field(
        default=100_000, ge=0, le=10_000_000,
        description="At start-up the API loads the current scores of up to this many leads (most "
        "recently scored first) into the cache, so the first reads after a restart do not all "
        "fall through to the database. 0: do not warm.",
    )
    usage_flush_seconds: float = Field(
        default=5.0, gt=0, le=3600,
        description="How often per-key usage counters are written to the database.",
    )
    metrics_require_key: bool = Field(
        default=False, description="Require an admin API key to scrape /metrics."
    )
    opentelemetry: bool = Field(
        default=False,
        description="Let FastAPI's built-in OpenTelemetry instrumentation trace and measure requests when an "
        "OpenTelemetry SDK provider is configured in the process. Off by default: leadscore's metrics are "
        "Prometheus (/metrics), and FastAPI's per-request check for a provider alone cost about a twentieth "
        "of a request's time on the API's fast paths.",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="Timeout of one webhook POST."
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=50, description="Attempts per event and subscription before giving up."
    )
    webhook_backoff_base_seconds: float = Field(
        default=5.0, ge=0, description="Retry n waits a random time up to base * 2**(n-1) (full jitter)."
    )
    webhook_backoff_max_seconds: float = Field(
        default=3600.0, ge=0, description="Upper bound of one retry delay."
    )
    webhook_disable_after: int = Field(
        default=16, ge=1, description="Consecutive failed attempts that disable a subscription."
    )
    webhook_allowed_networks: str = Field(
        default="",
        description="Comma-separated networks (CIDR) webhooks may be sent to although they are loopback, private, "
                    "link-local or reserved, e.g. 10.20.0.0/16 for a CRM on the office network; empty: public "
                    "addresses only.",
    )

    promotion_tolerance: float = Field(
        default=0.005, ge=0, le=0.5,
        description="A retrained model replaces the champion unless its held-out ROC AUC is worse by more than this.",
    )
    retrain_interval_hours: float = Field(default=24.0, gt=0, description="How often models are retrained.")
    drift_check_interval_hours: float = Field(default=6.0, gt=0, description="How often drift is checked.")
    scoring_process: bool = Field(
        default=True,
        description="Embedded mode: `leadscore serve` validates and scores POST /v1/score bodies in a helper "
        "process, so the API's event loop and the scoring use a core each. Ignored in production mode, "
        "whose API workers already use every core.",
    )
    background_process: bool = Field(
        default=True,
        description="Embedded mode: `leadscore serve` runs background work (rescoring, webhooks, the "
        "scheduler) in a helper process, so the real-time path does not wait behind the API's event loop "
        "for the interpreter lock. Ignored in production mode, where `leadscore worker` runs it.",
    )
    scheduler_enabled: bool = Field(
        default=True, description="Run the embedded scheduler (retraining, drift checks) inside `leadscore serve`."
    )
    task_max_retries: int = Field(
        default=5, ge=0, le=20,
        description="Retries of background work whose handler failed (rescoring a lead, a forecast...) before "
        "it is parked for an admin (`leadscore tasks failed`, `leadscore tasks retry`).",
    )
    task_retry_base_seconds: float = Field(
        default=10.0, ge=0, le=3600,
        description="Retry n of failed background work waits base * 5**(n-1) seconds, +/- a fifth (jitter).",
    )
    queue_name: str = Field(
        default="leadscore.tasks", min_length=1, max_length=200,
        description="RabbitMQ queue the API publishes to and workers consume (one per installation).",
    )
    bulk_max_bytes: int = Field(
        default=2 * 1024**3, ge=1, description="Largest file accepted by /v1/bulk uploads (413 beyond)."
    )
    forecast_linger_seconds: float = Field(
        default=1.0, ge=0, le=60,
        description="Forecasts of changed leads run at most this often, in one batch, in-process and on the "
                    "worker (a batch costs about the same for one lead as for twenty); 0 runs each at once.",
    )
    score_change_min_delta: int = Field(
        default=5, ge=1, le=100,
        description="A rescore emits score.changed when the grade changes or the score moves this many points.",
    )

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.startswith("postgres://"):
            value = "postgresql://" + value[len("postgres://") :]
        _check_scheme("LEADSCORE_DATABASE_URL", value, DATABASE_SCHEMES)
        # Plain postgresql:// would pick psycopg2, which we do not ship.
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value[len("postgresql://") :]
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_scheme("LEADSCORE_REDIS_URL", value, REDIS_SCHEMES)

    @field_validator("broker_url")
    @classmethod
    def _broker_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_scheme("LEADSCORE_BROKER_URL", value, BROKER_SCHEMES)

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"LEADSCORE_LOG_LEVEL={value} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"LEADSCORE_TIMEZONE={value[:60]!r} is not a known time zone: use an IANA name such as "
                             "America/Los_Angeles, Europe/London or UTC") from None
        return value.strip()

    @field_validator("rate_limit", "login_failures_per_account", "login_failures_per_client")
    @classmethod
    def _rate_limit(cls, value: str, info: ValidationInfo) -> str:
        try:
            return check_rate_limit(value)
        except ValueError as exc:
            raise ValueError(f"LEADSCORE_{info.field_name.upper()}: {exc}") from None

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _webhook_networks(cls, value: str) -> str:
        parse_networks(value)
        return value.strip()

    @property
    def webhook_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return parse_networks(self.webhook_allowed_networks)

    @field_validator("key_pepper")
    @classmethod
    def _key_pepper(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("LEADSCORE_KEY_PEPPER is too short: use at least 16 random characters")
        return value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'leadscore.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    def describe(self) -> dict[str, str]:
        """Effective settings with secrets masked, for ``leadscore config``."""
        return {
            "LEADSCORE_HOME": str(self.home),
            "LEADSCORE_DATABASE_URL": mask_url(self.effective_database_url) or "",
            "LEADSCORE_REDIS_URL": mask_url(self.redis_url) or "(unset: in-process cache)",
            "LEADSCORE_BROKER_URL": mask_url(self.broker_url) or "(unset: in-process queue)",
            "LEADSCORE_LOG_LEVEL": self.log_level,
            "LEADSCORE_TIMEZONE": self.timezone,
            "LEADSCORE_IMPORT_BATCH_SIZE": str(self.import_batch_size),
            "LEADSCORE_AUTO_UPGRADE": str(self.auto_upgrade).lower(),
            "LEADSCORE_RATE_LIMIT": self.rate_limit,
            "LEADSCORE_LOGIN_FAILURES_PER_ACCOUNT": self.login_failures_per_account,
            "LEADSCORE_LOGIN_FAILURES_PER_CLIENT": self.login_failures_per_client,
            "LEADSCORE_KEY_PEPPER": "***" if self.key_pepper else f"(unset: generated in {self.home / 'key_pepper'})",
            "LEADSCORE_KEY_CACHE_SECONDS": f"{self.key_cache_seconds:g}",
            "LEADSCORE_USAGE_FLUSH_SECONDS": f"{self.usage_flush_seconds:g}",
            "LEADSCORE_CACHE_WARM_LEADS": str(self.cache_warm_leads),
            "LEADSCORE_KEEP_ALIVE_SECONDS": f"{self.keep_alive_seconds:g}",
            "LEADSCORE_METRICS_REQUIRE_KEY": str(self.metrics_require_key).lower(),
            "LEADSCORE_OPENTELEMETRY": str(self.opentelemetry).lower(),
            "LEADSCORE_SCORING_PROCESS": str(self.scoring_process).lower(),
            "LEADSCORE_BACKGROUND_PROCESS": str(self.background_process).lower(),
            "LEADSCORE_WEBHOOK_TIMEOUT_SECONDS": str(self.webhook_timeout_seconds),
            "LEADSCORE_WEBHOOK_MAX_ATTEMPTS": str(self.webhook_max_attempts),
            "LEADSCORE_WEBHOOK_BACKOFF_BASE_SECONDS": str(self.webhook_backoff_base_seconds),
            "LEADSCORE_WEBHOOK_BACKOFF_MAX_SECONDS": str(self.webhook_backoff_max_seconds),
            "LEADSCORE_WEBHOOK_DISABLE_AFTER": str(self.webhook_disable_after),
            "LEADSCORE_WEBHOOK_ALLOWED_NETWORKS": self.webhook_allowed_networks or "(unset: public addresses only)",
            "LEADSCORE_FORECAST_LINGER_SECONDS": f"{self.forecast_linger_seconds:g}",
            "LEADSCORE_TASK_MAX_RETRIES": str(self.task_max_retries),
            "LEADSCORE_TASK_RETRY_BASE_SECONDS": f"{self.task_retry_base_seconds:g}",
            "LEADSCORE_QUEUE_NAME": self.queue_name,
            "LEADSCORE_BULK_MAX_BYTES": str(self.bulk_max_bytes),
        }


def parse_networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The networks of a comma-separated CIDR list (LEADSCORE_WEBHOOK_ALLOWED_NETWORKS)."""
    networks = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"LEADSCORE_WEBHOOK_ALLOWED_NETWORKS: {part[:60]!r} is not a network; use CIDR "
                             "notation such as 10.0.0.0/8 or fd00::/8, separated by commas") from None
    return tuple(networks)


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning validation errors into one-line ConfigErrors."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]) or "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            if not message.startswith("LEADSCORE_"):
                message = f"LEADSCORE_{field.upper()}: {message}"
            messages.append(message)
        raise ConfigError("; ".join(messages)) from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
