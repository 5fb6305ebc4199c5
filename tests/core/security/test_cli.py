"""`leadscore apikey create/list/revoke`: the key printed once, one-line errors."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from leadscore.core.database import session_scope
from leadscore.core.runtime import Runtime
from leadscore.core.security import keys
from leadscore.core.security.cli import apikey_app
from leadscore.core.security.models import ApiKey

runner = CliRunner()


def _run(cli_env, *args):
    return runner.invoke(apikey_app, list(args), env={**cli_env, "COLUMNS": "200"})


def test_create_list_revoke(cli_env, fresh_database):
    created = _run(cli_env, "create", "--name", "crm", "--scope", "read", "--scope", "write",
                   "--rate", "100/minute", "--expires-days", "30")
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    prefix = keys.split_key(key)
    assert prefix is not None
    assert "cannot be shown again" in created.stderr
    runtime = Runtime.open(fresh_database)
    try:
        with session_scope(runtime.sessions) as session:
            row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
            assert (row.name, row.scopes, row.rate_limit) == ("crm", ["read", "write"], "100/minute")
            assert row.expires_at is not None
            assert row.secret_hash == keys.hash_key(keys.resolve_pepper(fresh_database), key)
            key_id = row.id
        listed = _run(cli_env, "list")
        assert listed.exit_code == 0 and prefix in listed.stdout and "active" in listed.stdout
        assert key.rsplit("_", 1)[1] not in listed.stdout
        revoked = _run(cli_env, "revoke", str(key_id))
        assert revoked.exit_code == 0 and "revoked key" in revoked.stdout
        with session_scope(runtime.sessions) as session:
            assert session.get(ApiKey, key_id).revoked_at is not None
        assert prefix not in _run(cli_env, "list", "--active").stdout
    finally:
        runtime.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--name", "x", "--scope", "superuser"], "unknown scope 'superuser'"),
        (["create", "--name", "x", "--scope", "read", "--rate", "fast"], "rate limit 'fast' is not valid"),
        (["create", "--name", "x", "--scope", "read", "--expires-days", "0"], "expiry must be between"),
        (["create", "--name", "  ", "--scope", "read"], "the key needs a name"),
        (["revoke", "4242"], "API key 4242 does not exist"),
    ],
)
def test_bad_input_is_one_line(cli_env, args, message):
    result = _run(cli_env, *args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_registered_on_the_main_command(cli_env):
    try:
        from leadscore.cli import app
    except ImportError as exc:  # another domain's sub-app is not importable yet
        pytest.skip(f"leadscore.cli does not import: {exc}")
    result = runner.invoke(app, ["apikey", "create", "--name", "ops", "--scope", "admin"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert keys.split_key(result.stdout.strip().splitlines()[-1])
