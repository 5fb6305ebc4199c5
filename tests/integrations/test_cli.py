"""`leadscore import ...` end to end on a fresh database (SQLite and PostgreSQL).

The shared-data tests run the exact commands documented in docs/importing.md
(paths relative to the repository root there; absolute here).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from leadscore.agents.models import Agent
from leadscore.core.audit import AuditEntry
from leadscore.enrichment.models import Property
from leadscore.integrations.models import AttributeColumn, ImportRun
from leadscore.leads.models import Lead, Outcome
from leadscore.routing.models import Assignment
from tests.integrations.conftest import report_rows


def test_x_education(run_import, count_rows, shared_data):
    args = [
        "leads", shared_data / "x_education_leads" / "Leads.csv", "--dataset", "x_education", "--id", "Prospect ID",
        "--target", "Converted", "--positive", "1", "--map", "source=Lead Source", "--na-values", "Select",
    ]  # fmt: skip
    result = run_import(*args)
    assert result.exit_code == 0, result.output
    assert count_rows(Lead) == 9240
    assert count_rows(Outcome, Outcome.result == "won") == 3561
    assert count_rows(Outcome, Outcome.result == "lost") == 5679
    assert count_rows(Lead, Lead.status == "won") == 3561
    assert count_rows(Lead, Lead.source == "Google") == 2868
    assert count_rows(AttributeColumn, AttributeColumn.name == "TotalVisits", AttributeColumn.type == "integer") == 1
    # "Select" means "not chosen": a null, so never an attribute value nor a city.
    assert count_rows(Lead, Lead.city == "Select") == 0
    assert count_rows(ImportRun, ImportRun.status == "completed", ImportRun.rows_inserted == 9240) == 1
    assert count_rows(AuditEntry, AuditEntry.action == "import.leads") == 1

    again = run_import(*args)
    assert again.exit_code == 0, again.output
    assert count_rows(Lead) == 9240 and count_rows(Outcome) == 9240
    assert count_rows(ImportRun, ImportRun.rows_updated == 9240, ImportRun.rows_inserted == 0) == 1


def test_olist_leads_then_closed_deals(run_import, count_rows, shared_data):
    folder = shared_data / "olist_marketing_funnel"
    leads = run_import(
        "leads", folder / "olist_marketing_qualified_leads_dataset.csv", "--dataset", "olist", "--id", "mql_id",
        "--created-at", "first_contact_date", "--map", "source=origin",
    )  # fmt: skip
    assert leads.exit_code == 0, leads.output
    outcomes = run_import(
        "outcomes", folder / "olist_closed_deals_dataset.csv", "--dataset", "olist", "--lead-id", "mql_id",
        "--result", "won", "--closed-at", "won_date", "--value", "declared_monthly_revenue", "--others", "lost",
    )  # fmt: skip
    assert outcomes.exit_code == 0, outcomes.output
    assert count_rows(Lead, Lead.dataset == "olist") == 8000
    assert count_rows(Outcome, Outcome.result == "won") == 842
    assert count_rows(Outcome, Outcome.result == "lost") == 7158
    assert count_rows(Outcome, Outcome.deal_value > 0) == 45
    assert count_rows(Lead, Lead.source == "organic_search") == 2296


def test_maven_agents_then_pipeline(run_import, count_rows, shared_data):
    folder = shared_data / "maven_crm_sales_opportunities"
    agents = run_import(
        "agents", folder / "sales_teams.csv", "--dataset", "maven", "--id", "sales_agent",
        "--map", "team=manager", "--map", "territories=regional_office",
    )  # fmt: skip
    assert agents.exit_code == 0, agents.output
    pipeline = run_import(
        "leads", folder / "sales_pipeline.csv", "--dataset", "maven", "--id", "opportunity_id",
        "--created-at", "engage_date", "--target", "deal_stage", "--positive", "Won", "--negative", "Lost",
        "--closed-at", "close_date", "--value", "close_value", "--agent", "sales_agent",
        "--join", folder / "accounts.csv", "--on", "account", "--join", folder / "products.csv", "--on", "product",
    )  # fmt: skip
    assert pipeline.exit_code == 0, pipeline.output
    assert count_rows(Lead) == 8800
    assert count_rows(Outcome, Outcome.result == "won") == 4238
    assert count_rows(Outcome, Outcome.result == "lost") == 2473
    assert count_rows(Lead, Lead.status.notin_(["won", "lost"])) == 2089
    assert count_rows(Agent) == 35  # every pipeline agent was in the roster: none created
    assert count_rows(Assignment) == 8800
    assert count_rows(Lead, Lead.agent_id.isnot(None)) == 8800
    assert count_rows(Agent, Agent.id.in_(select(Lead.agent_id).distinct())) == 30
    # The lookup joins: sector from accounts.csv, series from products.csv (GTXPro = GTX Pro).
    assert count_rows(AttributeColumn, AttributeColumn.name.in_(["sector", "series", "sales_price"])) == 3
    assert count_rows(Lead, func.length(Lead.external_id) == 8) == 8800


def test_king_county_properties(run_import, count_rows, shared_data):
    result = run_import(
        "properties", shared_data / "king_county_house_sales" / "kc_house_data.csv", "--dataset", "king_county",
        "--id", "id", "--map", "price=price", "--map", "sold_price=price", "--map", "sold_at=date",
        "--map", "living_area_sqft=sqft_living", "--map", "lot_sqft=sqft_lot", "--map", "year_built=yr_built",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # 177 properties sold twice: the later row of the file is kept.
    assert count_rows(Property) == 21436
    assert "177" in result.output
    assert count_rows(Property, Property.postcode == "98178") > 0
    assert count_rows(Property, Property.sold_at.is_(None)) == 0


def test_partial_bad_rows_exit_1_with_an_exact_report(run_import, count_rows, write_file, tmp_path):
    path = write_file(
        "leads.csv",
        "id,email,bedrooms,won\n1,a@x.io,3,yes\n2,broken,2,no\n3,c@x.io,x,no\n4,d@x.io\n5,e@x.io,1,yes\n",
    )
    report = tmp_path / "errors.csv"
    result = run_import("leads", path, "--dataset", "p", "--target", "won", "--positive", "yes", "--errors", report)
    assert result.exit_code == 1, result.output
    assert "3 row(s) rejected" in result.output
    assert report_rows(report) == [
        ["line", "column", "value", "reason"],
        ["3", "email", "broken", "email: not an email address"],
        ["4", "bedrooms", "x", "bedrooms: not a number"],
        ["5", "", "4,d@x.io", "expected 4 fields, found 2"],
    ]
    assert count_rows(Lead) == 2 and count_rows(Outcome, Outcome.result == "won") == 2
    assert count_rows(ImportRun, ImportRun.status == "with_errors", ImportRun.rows_failed == 3) == 1


def test_default_report_goes_to_the_home_reports_folder(run_import, write_file, fresh_database):
    path = write_file("leads.csv", "id,email\n1,nope\n")
    result = run_import("leads", path)
    assert result.exit_code == 1
    reports = list((fresh_database.home / "reports").glob("import-leads-default-*.csv"))
    assert len(reports) == 1 and report_rows(reports[0])[1][:2] == ["2", "email"]


@pytest.mark.parametrize(
    ("name", "content", "args", "message"),
    [
        ("latin.csv", b"id,name\n1,Ren\xe9e\n", [], "not valid utf-8: byte 0xe9 on line 2"),
        ("semi.csv", b"id;email\n1;a@x.io\n", [], "pass --delimiter ';'"),
        ("empty.csv", b"", [], "empty.csv is empty"),
        ("head.csv", b"id,email\n", [], "has a header but no data rows"),
        ("t.csv", b"id,email\n1,a@x.io\n", ["--target", "Converted", "--positive", "1"], "has no column 'Converted'; its columns are: 'id', 'email'"),
        ("t.csv", b"id,email\n1,a@x.io\n", ["--map", "colour=email"], "leads have no field 'colour'"),
        ("t.csv", b"id,email\n1,a@x.io\n", ["--map", "email"], "expected field=column"),
        ("t.csv", b"id,email\n1,a@x.io\n", ["--id", "lead"], "--id 'lead': t.csv has no column 'lead'"),
        ("nokey.csv", b"name,email\nA,a@x.io\n", [], "pass --id COLUMN"),
        ("a.jsonl", b'[{"id": 1}]\n', [], "not an object"),
        ("t.csv", b"id,c\n1,0\n2,1\n", ["--target", "c", "--positive", "yes"], "never occurs in column 'c'"),
        ("t.csv", b"id,email\n1,a@x.io\n", ["--join", "missing.csv", "--on", "id"], "missing.csv: no such file"),
    ],
)
def test_unusable_files_and_configurations_write_nothing(run_import, count_rows, write_file, name, content, args, message):
    path = write_file(name, content)
    result = run_import("leads", path, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output.replace("\n", " ")
    assert "Traceback" not in result.output
    assert count_rows(Lead) == 0 and count_rows(ImportRun) == 0


def test_dry_run_checks_everything_and_writes_nothing(run_import, count_rows, write_file):
    path = write_file("leads.csv", "id,email,c\n1,a@x.io,1\n2,bad,0\n")
    result = run_import("leads", path, "--target", "c", "--positive", "1", "--dry-run")
    assert result.exit_code == 1
    assert "dry run" in result.output and "inserted" in result.output
    assert count_rows(Lead) == 0 and count_rows(Outcome) == 0 and count_rows(ImportRun) == 0


def test_json_lines_from_the_command(run_import, count_rows, write_file):
    path = write_file("leads.jsonl", '{"id": "a", "email": "a@x.io", "n": 1}\n{"id": "b", "email": "b@x.io", "n": 2}\n')
    result = run_import("leads", path, "--dataset", "js")
    assert result.exit_code == 0, result.output
    assert count_rows(Lead, Lead.dataset == "js") == 2


def test_unreachable_database_is_one_line_and_exit_2(write_file):
    from typer.testing import CliRunner

    from leadscore.integrations.cli import import_app

    path = write_file("leads.csv", "id\n1\n")
    env = {"LEADSCORE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = CliRunner().invoke(import_app, ["leads", str(path)], env=env)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: LEADSCORE_DATABASE_URL=") and "cannot connect" in lines[0]
    bad = CliRunner().invoke(import_app, ["leads", str(path)], env={"LEADSCORE_DATABASE_URL": "mysql://x@y/z"})
    assert bad.exit_code == 2 and "is not a valid URL" in bad.output
