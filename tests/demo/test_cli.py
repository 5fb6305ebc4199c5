"""``leadscore demo``: summary, truth export, bad options (SQLite and PostgreSQL)."""

from __future__ import annotations

import pandas as pd
import pytest
import typer
from sqlalchemy import create_engine, func, inspect, select
from typer.testing import CliRunner

from leadscore.demo.cli import demo_command
from leadscore.demo.mechanism import ACTIONS
from leadscore.leads.models import Lead, Outcome

runner = CliRunner()


def _app() -> typer.Typer:
    # Built around demo_command so the test does not depend on other domains' CLIs.
    app = typer.Typer()
    app.command("demo")(demo_command)
    app.command("noop")(lambda: None)
    return app


def _demo_leads(url: str) -> int:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        if "leads" not in inspect(engine).get_table_names():
            return 0
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(Lead).where(Lead.dataset == "demo"))
    finally:
        engine.dispose()


def test_demo_builds_prints_a_summary_and_exports_the_truth(cli_env, tmp_path):
    truth = tmp_path / "truth.parquet"
    args = ["demo", "--leads", "400", "--seed", "3", "--end", "2025-06-30", "--no-train", "--truth", str(truth)]
    result = runner.invoke(_app(), args, env=cli_env)
    assert result.exit_code == 0, result.output
    for label in ("agents", "properties", "interactions", "assignments", "won / lost / open", "conversion rate",
                  "total deal value", "2025-06-30", "elapsed", "database"):
        assert label in result.output
    assert "400" in result.output
    assert _demo_leads(cli_env["LEADSCORE_DATABASE_URL"]) == 400

    frame = pd.read_parquet(truth)
    assert len(frame) == 400 and frame["lead_external_id"].is_unique
    for column in ("p_convert", "p_no_action", *(f"p_{a}" for a in ACTIONS), "best_action", "action",
                   "agent_external_id", "agent_skill", "outcome"):
        assert column in frame.columns
    agents = pd.read_parquet(tmp_path / "truth.agents.parquet")
    assert {"agent_external_id", "skill"} <= set(agents.columns)
    assert set(frame["agent_external_id"]) <= set(agents["agent_external_id"])
    assert not list(tmp_path.glob(".*partial"))

    # The realised outcomes in the truth are the ones in the database.
    engine = create_engine(cli_env["LEADSCORE_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        stored = dict(connection.execute(select(Lead.external_id, Outcome.result).join(Outcome, Outcome.lead_id == Lead.id)).all())
    engine.dispose()
    closed = frame[frame["outcome"] != "open"]
    assert dict(zip(closed["lead_external_id"], closed["outcome"], strict=True)) == stored

    # Running it again with the same options gives the same truth (and replaces the rows).
    csv = tmp_path / "again.csv"
    result = runner.invoke(_app(), [*args[:-1], str(csv)], env=cli_env)
    assert result.exit_code == 0, result.output
    assert _demo_leads(cli_env["LEADSCORE_DATABASE_URL"]) == 400
    again = pd.read_csv(csv)
    assert list(again["lead_external_id"]) == list(frame["lead_external_id"])
    assert (again["p_convert"] - frame["p_convert"]).abs().max() < 1e-5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--leads", "0"], "--leads 0: must be at least 1"),
        (["--leads", "-5"], "--leads -5: must be at least 1"),
        (["--end", "2025-13-01"], "not a date"),
        (["--truth", "TRUTH/missing/t.csv"], "does not exist"),
        (["--truth", "TRUTH/t.xlsx"], "unknown file type"),
        (["--password", "short"], "--password: the password is too short"),
    ],
)
def test_bad_options_fail_with_one_line_and_write_nothing(cli_env, tmp_path, args, message):
    out = tmp_path / "out"
    out.mkdir()
    args = [a.replace("TRUTH", str(out)) for a in args]
    result = runner.invoke(_app(), ["demo", "--leads", "50", *args] if args[0] != "--leads" else ["demo", *args], env=cli_env)
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.strip().startswith("error:") and len(result.output.strip().splitlines()) == 1
    assert _demo_leads(cli_env["LEADSCORE_DATABASE_URL"]) == 0
    assert list(out.iterdir()) == []


def test_leadscore_app_registers_the_command():
    cli = pytest.importorskip("leadscore.cli", exc_type=ImportError)
    names = {c.name for c in cli.app.registered_commands}
    assert "demo" in names
