"""Settings: environment and env file, and refusal of missing or placeholder secrets."""

import subprocess
from pathlib import Path

import pytest
from app_support import BIN, REPO
from pydantic import ValidationError

from app.settings import Settings

STRONG = "k" * 16 + "Q3v9-x_Lm2pR8sT1wY6zA"
BASE = {
    "APP_DATABASE_URL": "postgresql://app:Xq3vTz9pLm2sR8@127.0.0.1:5432/app",
    "APP_REDIS_URL": "redis://:Xq3vTz9pLm2sR8@127.0.0.1:6379/0",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for key in list(os.environ):
        if key.startswith("APP_"):
            monkeypatch.delenv(key)
    for key, value in BASE.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def _error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as raised:
        Settings.load()
    return str(raised.value)


def test_reads_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("APP_SECRET_KEY", STRONG)
    clean_env.setenv("APP_CORS_ORIGINS", "https://a.example, https://b.example")
    clean_env.setenv("APP_LOG_LEVEL", "debug")
    clean_env.setenv("APP_RELEASE_ID", "2026.11.22-1")
    clean_env.setenv("APP_DB_POOL_MAX_SIZE", "7")
    settings = Settings.load()
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.log_level == "DEBUG"
    assert settings.release_id == "2026.11.22-1"
    assert settings.db_pool_max_size == 7
    assert settings.environment == "production"
    assert settings.asyncpg_dsn.startswith("postgresql://app:")
    assert settings.sqlalchemy_url.startswith("postgresql+asyncpg://app:")


def test_cors_origins_as_json(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("APP_SECRET_KEY", STRONG)
    clean_env.setenv("APP_CORS_ORIGINS", '["https://a.example"]')
    assert Settings.load().cors_origins == ["https://a.example"]


def test_env_file(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text(
        f"APP_SECRET_KEY={STRONG}\nAPP_RELEASE_ID=from-file\nAPP_ENVIRONMENT=staging\n"
        "APP_SOMETHING_ELSE=ignored\n"
    )
    clean_env.setenv("APP_ENV_FILE", str(env_file))
    clean_env.setenv("APP_RELEASE_ID", "from-env")
    settings = Settings.load()
    assert settings.environment == "staging"
    # The process environment wins over the file.
    assert settings.release_id == "from-env"


def test_secret_is_required_outside_development(clean_env: pytest.MonkeyPatch) -> None:
    assert "APP_SECRET_KEY is required" in _error(clean_env)


@pytest.mark.parametrize("placeholder", ["changeme", "secret", "CHANGEME-please", "password"])
def test_placeholder_secret_is_refused(clean_env: pytest.MonkeyPatch, placeholder: str) -> None:
    assert "APP_SECRET_KEY is a placeholder" in _error(clean_env, APP_SECRET_KEY=placeholder)


def test_short_secret_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    message = _error(clean_env, APP_SECRET_KEY="only-twenty-chars-xx")
    assert "APP_SECRET_KEY is shorter than 32" in message


def test_placeholder_passwords_in_urls_are_refused(clean_env: pytest.MonkeyPatch) -> None:
    message = _error(
        clean_env,
        APP_SECRET_KEY=STRONG,
        APP_DATABASE_URL="postgresql://app:changeme@db/app",
    )
    assert "APP_DATABASE_URL" in message
    clean_env.setenv("APP_DATABASE_URL", BASE["APP_DATABASE_URL"])
    assert "APP_REDIS_URL" in _error(clean_env, APP_REDIS_URL="redis://:secret@r:6379/0")


def test_missing_urls_are_named(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("APP_DATABASE_URL")
    clean_env.setenv("APP_SECRET_KEY", STRONG)
    assert "database_url" in _error(clean_env)


def test_development_tolerates_a_missing_secret(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("APP_ENVIRONMENT", "development")
    settings = Settings.load()
    assert len(settings.secret) >= 32
    clean_env.setenv("APP_SECRET_KEY", "changeme")
    assert Settings.load().secret == "changeme"


def test_bad_values_are_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("APP_SECRET_KEY", STRONG)
    assert "log_level" in _error(clean_env, APP_LOG_LEVEL="loud")
    clean_env.setenv("APP_LOG_LEVEL", "INFO")
    assert "database_url" in _error(clean_env, APP_DATABASE_URL="mysql://x@y/z")
    clean_env.setenv("APP_DATABASE_URL", BASE["APP_DATABASE_URL"])
    assert "APP_DB_POOL_MIN_SIZE" in _error(
        clean_env, APP_DB_POOL_MIN_SIZE="5", APP_DB_POOL_MAX_SIZE="2"
    )


def test_server_refuses_to_start_with_a_placeholder_secret(
    app_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**app_env, "APP_SECRET_KEY": "changeme"}
    result = subprocess.run(
        [str(BIN / "uvicorn"), "app.main:app", "--port", "0"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "APP_SECRET_KEY is a placeholder" in result.stderr
