from __future__ import annotations

import pytest

from leadscore.core.config import ConfigError, load_settings, mask_url


def test_defaults_are_embedded(monkeypatch, tmp_path):
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path))
    for name in ("LEADSCORE_DATABASE_URL", "LEADSCORE_REDIS_URL", "LEADSCORE_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'leadscore.db'}"
    assert settings.redis_url is None and settings.broker_url is None
    assert settings.is_sqlite


def test_environment_variables_are_read(monkeypatch):
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", "postgres://app:s3cret@db.example:5432/leads")
    monkeypatch.setenv("LEADSCORE_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("LEADSCORE_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")
    settings = load_settings()
    # postgres:// is normalised to the psycopg 3 driver we ship.
    assert settings.effective_database_url == "postgresql+psycopg://app:s3cret@db.example:5432/leads"
    shown = settings.describe()
    assert "s3cret" not in shown["LEADSCORE_DATABASE_URL"]
    assert "***" in shown["LEADSCORE_DATABASE_URL"]
    assert "guest:***@" in shown["LEADSCORE_BROKER_URL"]


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("database_url", "mysql://root@localhost/x", "LEADSCORE_DATABASE_URL=mysql://root@localhost/x is not a valid URL"),
        ("database_url", "postgresql://u:pw@localhost:notaport/db", "has an invalid port"),
        ("database_url", "just words", "LEADSCORE_DATABASE_URL"),
        ("redis_url", "http://localhost:6379", "LEADSCORE_REDIS_URL"),
        ("broker_url", "redis://localhost", "LEADSCORE_BROKER_URL"),
        ("log_level", "LOUD", "LEADSCORE_LOG_LEVEL"),
        ("import_batch_size", "0", "LEADSCORE_IMPORT_BATCH_SIZE"),
    ],
)
def test_bad_settings_give_one_line_naming_the_variable(variable, value, expected):
    with pytest.raises(ConfigError) as info:
        load_settings(**{variable: value})
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert "pw@" not in message


def test_mask_url_hides_only_the_password():
    assert mask_url("postgresql://user:pw@host/db") == "postgresql://user:***@host/db"
    assert mask_url("redis://host:6379") == "redis://host:6379"
    assert mask_url(None) is None


def test_serve_refuses_several_workers_on_the_embedded_cache_and_queue(tmp_path):
    from typer.testing import CliRunner

    from leadscore.cli import app

    env = {"LEADSCORE_HOME": str(tmp_path), "LEADSCORE_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
           "LEADSCORE_REDIS_URL": "", "LEADSCORE_BROKER_URL": ""}
    result = CliRunner().invoke(app, ["serve", "--workers", "2"], env=env)
    assert result.exit_code == 2
    assert "--workers above 1 needs LEADSCORE_REDIS_URL and LEADSCORE_BROKER_URL" in result.output
