"""`leadscore user create/list/disable` against a fresh database."""

from __future__ import annotations

from typer.testing import CliRunner

from leadscore.cli import app


def test_user_create_list_disable(cli_env):
    runner = CliRunner()
    created = runner.invoke(app, ["user", "create", "--email", "Boss@Example.com", "--name", "Boss", "--role",
                                  "manager", "--password-stdin"], input="a strong password\n", env=cli_env)
    assert created.exit_code == 0, created.output
    assert "created manager boss@example.com" in created.output
    duplicate = runner.invoke(app, ["user", "create", "--email", "boss@example.com", "--name", "B", "--role",
                                    "admin", "--password-stdin"], input="a strong password\n", env=cli_env)
    assert duplicate.exit_code == 2 and "already exists" in duplicate.output
    weak = runner.invoke(app, ["user", "create", "--email", "x@example.com", "--name", "X", "--role", "admin",
                               "--password-stdin"], input="short\n", env=cli_env)
    assert weak.exit_code == 2 and "too short" in weak.output
    agent = runner.invoke(app, ["user", "create", "--email", "a@example.com", "--name", "A", "--role", "agent",
                                "--password-stdin"], input="a strong password\n", env=cli_env)
    assert agent.exit_code == 2 and "linked to an agent" in agent.output
    listed = runner.invoke(app, ["user", "list"], env=cli_env)
    assert "boss@example.com" in listed.output and "a strong password" not in listed.output
    assert runner.invoke(app, ["user", "disable", "boss@example.com"], env=cli_env).exit_code == 0
    assert runner.invoke(app, ["user", "disable", "nobody@example.com"], env=cli_env).exit_code == 2
