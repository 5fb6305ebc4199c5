"""`leadscore models ...`: list, show, promote, roll back, mark challenger."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from leadscore.core.cli import UserError, clean_errors, console, open_runtime
from leadscore.core.database import session_scope
from leadscore.registry import service

models_app = typer.Typer(help="Model versions: list, show, promote, roll back.", no_args_is_help=True)

ACTOR = "cli"


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("" if value is None else str(value))


@models_app.command("list")
@clean_errors
def list_models(
    dataset: str = typer.Option(None, "--dataset", help="Only this dataset."),
    kind: str = typer.Option(None, "--kind", help="conversion, time_to_convert or deal_value."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List model versions, newest first."""
    with open_runtime() as runtime, session_scope(runtime.sessions) as session:
        versions = service.list_versions(session, kind=kind, dataset=dataset)
        rows = [
            {
                "id": v.id, "dataset": v.dataset, "kind": v.kind, "version": v.version, "state": v.state,
                "algorithm": v.algorithm, "n_train": v.n_train, "n_valid": v.n_valid,
                "roc_auc": v.metrics.get("roc_auc"), "ece": v.metrics.get("ece"),
                "created_at": v.created_at.isoformat(timespec="seconds"),
            }
            for v in versions
        ]
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(title="model versions")
    for column in ("id", "dataset", "kind", "version", "state", "algorithm", "n_train", "roc_auc", "ece", "created_at"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(_fmt(row[c]) for c in ("id", "dataset", "kind", "version", "state", "algorithm",
                                               "n_train", "roc_auc", "ece", "created_at")))
    console.print(table if rows else "no model versions yet: run `leadscore train`")


@models_app.command("show")
@clean_errors
def show_model(version_id: int = typer.Argument(..., help="Model version id.")) -> None:
    """Everything stored about one version (metrics, features, parameters, data window)."""
    with open_runtime() as runtime, session_scope(runtime.sessions) as session:
        v = service.get(session, version_id)
        payload = {
            "id": v.id, "dataset": v.dataset, "kind": v.kind, "version": v.version, "state": v.state,
            "algorithm": v.algorithm, "data_start": v.data_start and v.data_start.isoformat(),
            "data_end": v.data_end and v.data_end.isoformat(), "n_train": v.n_train, "n_valid": v.n_valid,
            "n_positive": v.n_positive, "data_fingerprint": v.data_fingerprint, "features": v.features,
            "params": v.params, "metrics": v.metrics, "library_versions": v.library_versions, "notes": v.notes,
        }
    console.print_json(json.dumps(payload, default=str))


@models_app.command("promote")
@clean_errors
def promote_model(
    version_id: int = typer.Argument(..., help="Model version id to make champion."),
    force: bool = typer.Option(False, "--force", help="Promote even if it scored worse than the champion."),
) -> None:
    """Make a version the champion (the current champion is retired)."""
    with open_runtime() as runtime, session_scope(runtime.sessions) as session:
        version = service.get(session, version_id)
        comparison = version.metrics.get("champion_comparison")
        if comparison and not comparison.get("allowed", True) and not force:
            raise UserError(
                f"version {version_id} was worse than the champion on held-out data "
                f"({comparison.get('reason')}); pass --force to promote anyway"
            )
        service.promote(session, version_id, actor=ACTOR, reason="forced" if force else "manual")
        console.print(f"version {version.version} ({version.dataset}/{version.kind}) is now the champion")


@models_app.command("rollback")
@clean_errors
def rollback_model(
    dataset: str = typer.Option("default", "--dataset"),
    kind: str = typer.Option("conversion", "--kind"),
) -> None:
    """Restore the previous champion."""
    with open_runtime() as runtime, session_scope(runtime.sessions) as session:
        version = service.rollback(session, kind=kind, dataset=dataset, actor=ACTOR)
        console.print(f"rolled back: version {version.version} ({dataset}/{kind}) is the champion again")


@models_app.command("challenger")
@clean_errors
def make_challenger(version_id: int = typer.Argument(..., help="Version to score in shadow.")) -> None:
    """Score with this version in shadow beside the champion, for comparison."""
    with open_runtime() as runtime, session_scope(runtime.sessions) as session:
        service.set_state(session, version_id, "challenger", actor=ACTOR)
        console.print(f"version id {version_id} now scores in shadow as a challenger")


@models_app.command("retire")
@clean_errors
def retire_model(version_id: int = typer.Argument(...)) -> None:
    """Retire a candidate or challenger."""
    with open_runtime() as runtime, session_scope(runtime.sessions) as session:
        service.set_state(session, version_id, "retired", actor=ACTOR)
        console.print(f"version id {version_id} retired")
