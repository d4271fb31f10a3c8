"""Settings from the environment (prefix APP_) and an optional env file named by APP_ENV_FILE."""

import os
import secrets
from functools import cache
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEVELOPMENT = "development"
MIN_SECRET_LENGTH = 32
# Values people leave in templates; none of them may reach a real host.
PLACEHOLDERS = frozenset(
    {"changeme", "change-me", "change_me", "secret", "password", "default", "example", "todo"}
)


def env_file() -> str | None:
    return os.environ.get("APP_ENV_FILE") or None


def _is_placeholder(value: str) -> bool:
    folded = value.strip().lower()
    return not folded or folded in PLACEHOLDERS or folded.startswith("changeme")


def _url_password(url: str) -> str | None:
    return urlsplit(url).password


class DatabaseSettings(BaseSettings):
    """The part of the settings that migrations need, so they run without the app's secrets."""

    model_config = SettingsConfigDict(env_prefix="APP_", extra="ignore", env_file_encoding="utf-8")

    environment: str = "production"
    database_url: str = Field(
        description="postgresql://user:password@host:port/dbname",
        pattern=r"^postgres(ql)?(\+asyncpg)?://",
    )

    @property
    def asyncpg_dsn(self) -> str:
        """The URL as asyncpg accepts it (no SQLAlchemy driver suffix)."""
        scheme, rest = self.database_url.split("://", 1)
        return f"postgresql://{rest}" if scheme.startswith("postgres") else self.database_url

    @property
    def sqlalchemy_url(self) -> str:
        return "postgresql+asyncpg://" + self.asyncpg_dsn.split("://", 1)[1]

    @classmethod
    def load(cls) -> Self:
        return cls(_env_file=env_file())  # type: ignore[call-arg]

    @model_validator(mode="after")
    def _refuse_placeholder_db_password(self) -> Self:
        password = _url_password(self.database_url)
        if self.environment != DEVELOPMENT and password is not None and _is_placeholder(password):
            raise ValueError("APP_DATABASE_URL carries a placeholder password; set a real one")
        return self


class Settings(DatabaseSettings):
    db_pool_min_size: int = Field(default=1, ge=0, le=100)
    db_pool_max_size: int = Field(default=10, ge=1, le=100)
    db_connect_timeout: float = Field(default=5.0, gt=0)
    db_command_timeout: float = Field(default=10.0, gt=0)

    redis_url: str = Field(pattern=r"^(redis|rediss|unix)://")
    redis_timeout: float = Field(default=2.0, gt=0)
    # Lets several apps share one Redis without reading each other's keys and channels.
    redis_prefix: str = Field(default="reference-app", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    cache_ttl_seconds: int = Field(default=30, ge=1)

    secret_key: SecretStr | None = None
    access_token_ttl_seconds: int = Field(default=3600, ge=60)

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    release_id: str = "unknown"

    ready_timeout: float = Field(default=1.0, gt=0, le=10)
    ws_queue_size: int = Field(default=100, ge=1)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # Comma-separated in env files is what people write; a JSON list also works.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Self:
        if self.db_pool_min_size > self.db_pool_max_size:
            raise ValueError("APP_DB_POOL_MIN_SIZE is larger than APP_DB_POOL_MAX_SIZE")
        if self.environment == DEVELOPMENT:
            if self.secret_key is None:
                # A fresh key per start keeps development usable; tokens die on restart.
                self.secret_key = SecretStr(secrets.token_urlsafe(48))
            return self
        if self.secret_key is None:
            raise ValueError("APP_SECRET_KEY is required outside development")
        key = self.secret_key.get_secret_value()
        if _is_placeholder(key):
            raise ValueError("APP_SECRET_KEY is a placeholder; generate a random one")
        if len(key) < MIN_SECRET_LENGTH:
            raise ValueError(f"APP_SECRET_KEY is shorter than {MIN_SECRET_LENGTH} characters")
        password = _url_password(self.redis_url)
        if password is not None and _is_placeholder(password):
            raise ValueError("APP_REDIS_URL carries a placeholder password; set a real one")
        return self

    @property
    def is_development(self) -> bool:
        return self.environment == DEVELOPMENT

    @property
    def secret(self) -> str:
        assert self.secret_key is not None  # set or refused by the validator
        return self.secret_key.get_secret_value()


@cache
def get_settings() -> Settings:
    return Settings.load()
