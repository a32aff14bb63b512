"""Server settings: one pydantic-settings class, built by a factory, never at import."""

from __future__ import annotations

import datetime as dt

from limits import parse_many
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_DATABASE_URL", "Settings", "get_settings", "normalize_database_url"]

DEFAULT_DATABASE_URL = "sqlite:///./verdict.db"
_POSTGRES_DRIVER = "psycopg"


def normalize_database_url(url: str) -> str:
    """The URL SQLAlchemy needs for what a person (or Heroku, Render, Fly, a
    ``DATABASE_URL``) writes: ``postgres://`` and ``postgresql://`` name PostgreSQL
    through psycopg 3, the driver Verdict ships with (SQLAlchemy knows no ``postgres``
    dialect and would pick psycopg2 for a bare ``postgresql``); ``postgres+DRIVER://``
    becomes ``postgresql+DRIVER://``. Anything else, SQLite included, is left as it is."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    dialect, plus, driver = scheme.partition("+")
    if dialect.lower() not in ("postgres", "postgresql"):
        return url
    return f"postgresql+{driver if plus and driver else _POSTGRES_DRIVER}://{rest}"


class Settings(BaseSettings):
    """Everything the server can be configured with; each field reads ``VERDICT_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="VERDICT_", env_file=None, extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL: sqlite:///path.db, or postgresql://user@host/db "
        "(postgres:// and postgresql:// mean postgresql+psycopg://)",
    )
    database_echo: bool = Field(default=False, description="Log every SQL statement.")
    database_pool_size: int = Field(default=10, ge=1, le=500)
    migrate_on_start: bool = Field(
        default=True, description="Upgrade the database to the newest revision when serving."
    )
    host: str = Field(default="127.0.0.1")
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = Field(default="info")
    opentelemetry: bool = Field(
        default=False,
        description="Let FastAPI emit OpenTelemetry spans and metrics to the providers the "
        "process configured. Off by default: Prometheus /metrics covers the hot paths, and "
        "checking for providers costs every request.",
    )
    token_ttl: dt.timedelta = Field(
        default=dt.timedelta(hours=12),
        description="How long a login lasts (ISO 8601 duration or seconds).",
    )
    secure_cookies: bool = Field(
        default=False, description="Mark the session cookie Secure (serve over HTTPS)."
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body, in bytes, of a management route (everything "
        "but the SDK routes); a larger one is refused with 413 while it is read.",
    )
    sdk_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body, in bytes, of the evaluation, OFREP and "
        "assignment routes. POST /api/v1/events keeps its own limit (1 MiB, sent and "
        "decompressed).",
    )
    login_limit_per_account: str = Field(
        default="10/minute;50/hour",
        description="Failed logins allowed per account name, in the `limits` notation "
        "(N/second|minute|hour|day, several joined by ';'); past it a login gets 429.",
    )
    login_limit_per_address: str = Field(
        default="60/minute;600/hour",
        description="Failed logins allowed per client address, same notation.",
    )

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalize_database_url(value.strip())

    @field_validator("login_limit_per_account", "login_limit_per_address")
    @classmethod
    def _rate_limits(cls, value: str) -> str:
        try:
            items = parse_many(value)
        except ValueError as error:
            raise ValueError(f"not a rate limit like '10/minute;50/hour' ({error})") from error
        if not items:
            raise ValueError("name at least one limit, like '10/minute'")
        return value

    cors_allow_origins: list[str] = Field(
        default_factory=list,
        description="Origins (e.g. https://shop.example.com) whose pages may call the SDK "
        "routes from a browser with a client key; empty (the default) turns CORS off. "
        "Management routes never answer cross-origin requests.",
    )
    retention_days: int = Field(
        default=180,
        ge=0,
        description="Assignments are deleted this many days after their experiment completed.",
    )
    retention_chunk_size: int = Field(
        default=10_000, ge=1, description="Assignments deleted per transaction by retention."
    )
    worker_interval: float = Field(
        default=3600.0, gt=0, description="Seconds between two retention runs of `verdict worker`."
    )
    analysis_interval: float = Field(
        default=3600.0,
        gt=0,
        description="Seconds between two passes of `verdict worker` over the running "
        "experiments, each refreshing the analyses whose inputs changed.",
    )
    bandit_interval: float = Field(
        default=60.0,
        gt=0,
        description="Seconds between two checks of `verdict worker` for running bandits "
        "due a weight update (each bandit updates every `bandit_update_minutes`).",
    )


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides taking precedence."""
    return Settings(**overrides)  # type: ignore[arg-type]
