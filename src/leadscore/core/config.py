"""Settings from environment variables (prefix ``LEADSCORE_``).

Nothing reads the environment at import time: callers ask ``get_settings()``
(cached) or build ``Settings()`` themselves, and FastAPI receives it through a
dependency, so tests override it instead of patching a module global.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator
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
    import_batch_size: int = Field(default=2000, ge=1, le=100_000)
    auto_upgrade: bool = Field(
        default=True, description="Apply database migrations on first use."
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
            "LEADSCORE_IMPORT_BATCH_SIZE": str(self.import_batch_size),
            "LEADSCORE_AUTO_UPGRADE": str(self.auto_upgrade).lower(),
        }


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
