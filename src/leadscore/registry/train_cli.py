"""`leadscore train`, `leadscore evaluate` and `leadscore monitor ...`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from leadscore.core.cli import (
    UserError,
    clean_errors,
    console,
    err_console,
    open_runtime,
    progress_bar,
)
from leadscore.core.database import session_scope
from leadscore.ml import TrainingConfig, format_report
from leadscore.registry import monitoring, predictive, service
from leadscore.registry.tasks import run_training_job

monitor_app = typer.Typer(help="Realised accuracy and drift of the models.", no_args_is_help=True)


@clean_errors
def train_command(
    dataset: str = typer.Option("default", "--dataset", "-d", help="Dataset whose closed leads to learn from."),
    seed: int = typer.Option(0, "--seed", help="Random seed (training is reproducible with it)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Column never to use as a feature (repeatable)."),
    keep: list[str] = typer.Option(
        [], "--keep", help="Keep a column the leakage guard would exclude (repeatable; you vouch it is known "
        "before the outcome)."),
    rules: Path = typer.Option(None, "--rules", help="TOML rules file for the points model (default: shipped)."),
    no_promote: bool = typer.Option(False, "--no-promote", help="Register the candidate but do not promote it."),
    tolerance: float = typer.Option(None, "--tolerance", help="Allowed ROC AUC drop versus the champion."),
    report_json: Path = typer.Option(None, "--json", help="Also write the evaluation report to this JSON file."),
) -> None:
    """Train a conversion model on a dataset, register it, and promote it if it is not worse."""
    if rules is not None and not rules.is_file():
        raise UserError(f"--rules {rules}: no such file")
    config = TrainingConfig(seed=seed, exclude=tuple(exclude), leakage_override=tuple(keep),
                            rules_path=str(rules) if rules else None)
    with open_runtime() as runtime:
        with progress_bar() as bar:
            task = bar.add_task("training", total=100)

            def progress(step: str, fraction: float) -> None:
                bar.update(task, completed=round(fraction * 100), description=step)

            result = run_training_job(
                runtime.sessions, dataset=dataset, config=config, trigger="manual", actor="cli",
                auto_promote=not no_promote,
                tolerance=runtime.settings.promotion_tolerance if tolerance is None else tolerance,
                progress=progress,
            )
        if result.status != "succeeded":
            raise UserError(f"training failed (job {result.job_id}): {result.message}; the champion is unchanged")
        console.print(result.evaluation_text, highlight=False, soft_wrap=True)
        state = "promoted to champion" if result.promoted else "kept as candidate"
        console.print(f"\nversion {result.version} (id {result.version_id}) {state}: {result.decision}")
        if report_json:
            with session_scope(runtime.sessions) as session:
                version = service.get(session, result.version_id)
                report_json.write_text(json.dumps(version.metrics, indent=2, default=str))
            console.print(f"report written to {report_json}")


@clean_errors
def evaluate_command(
    dataset: str = typer.Option("default", "--dataset", "-d"),
    version_id: int = typer.Option(None, "--model", help="Model version id (default: the champion)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Print a model's held-out evaluation beside the rules and logistic-regression baselines."""
    with open_runtime() as runtime, session_scope(runtime.sessions) as session:
        version = service.get(session, version_id) if version_id else service.get_champion(session, dataset=dataset)
        if version is None:
            raise UserError(f"dataset {dataset!r} has no champion model: run `leadscore train --dataset {dataset}`")
        artifact = service.load_model(session, version)
        report = artifact.model.evaluation
        header = f"model version {version.version} (id {version.id}, {version.dataset}, {version.state}, " \
                 f"{version.algorithm}, trained on {version.n_train} leads)"
        if as_json:
            console.print_json(json.dumps({"model_version_id": version.id, "version": version.version,
                                           "dataset": version.dataset, "state": version.state,
                                           "report": report.to_dict() if report else None,
                                           "champion_comparison": version.metrics.get("champion_comparison"),
                                           "notes": version.notes,
                                           "predictive": _predictive_metrics(session, version.dataset)},
                                          default=str))
            return
        console.print(header, highlight=False)
        if report is None:
            console.print(f"no held-out evaluation: {version.notes or 'rules model'}")
        else:
            console.print(format_report(report), highlight=False, soft_wrap=True)
        _print_predictive(session, version.dataset)


def _predictive_metrics(session, dataset: str) -> dict:
    """Held-out metrics of the dataset's predictive champions, by kind."""
    out = {}
    for kind in predictive.KINDS:
        champion = service.get_champion(session, kind=kind, dataset=dataset)
        out[kind] = None if champion is None else {"model_version_id": champion.id, "version": champion.version,
                                                   "algorithm": champion.algorithm, "metrics": champion.metrics}
    return out


def _print_predictive(session, dataset: str) -> None:
    for kind, found in _predictive_metrics(session, dataset).items():
        if found is None:
            console.print(f"\n{kind}: no champion (see `leadscore train`; a skipped kind says why in its job)")
            continue
        console.print(f"\n{kind}: version {found['version']} (id {found['model_version_id']}, {found['algorithm']})",
                      highlight=False)
        console.print(predictive.format_metrics(kind, found["metrics"]), highlight=False)


@monitor_app.command("performance")
@clean_errors
def performance(
    dataset: str = typer.Option("default", "--dataset", "-d"),
    freq: str = typer.Option("W", "--freq", help="Period: W (week) or M (month)."),
) -> None:
    """Realised accuracy per model version and period, from the scores given before each outcome."""
    if freq not in ("W", "M"):
        raise UserError("--freq must be W or M")
    with open_runtime() as runtime, session_scope(runtime.sessions) as session:
        table_frame = monitoring.realised(session, dataset=dataset, freq=freq)
    if table_frame.empty:
        console.print("no scored leads have closed yet")
        return
    table = Table(title=f"realised performance ({dataset})")
    for column in ("version", "period", "n", "converted", "roc_auc", "log_loss", "ece", "mean_predicted", "observed_rate"):
        table.add_column(column)
    for row in table_frame.itertuples(index=False):
        table.add_row(*(f"{getattr(row, c):.3f}" if isinstance(getattr(row, c), float) else str(getattr(row, c))
                        for c in ("version", "period", "n", "converted", "roc_auc", "log_loss", "ece",
                                  "mean_predicted", "observed_rate")))
    console.print(table)


@monitor_app.command("drift")
@clean_errors
def drift(dataset: str = typer.Option("default", "--dataset", "-d"),
          window_days: int = typer.Option(30, "--window-days", min=1)) -> None:
    """Population stability of recent leads against the champion's training data."""
    with open_runtime() as runtime, session_scope(runtime.sessions) as session:
        outcome = monitoring.check_drift(session, dataset=dataset, window_days=window_days)
    if outcome.status == "skipped":
        err_console.print(f"drift check skipped: {outcome.message}")
        return
    table = Table(title=f"drift ({dataset}): {outcome.status}")
    table.add_column("subject")
    table.add_column("PSI")
    table.add_column("status")
    score = outcome.report.get("score")
    if score:
        table.add_row("score", f"{score['psi']:.3f}", score["status"])
    for item in outcome.report.get("features", [])[:25]:
        table.add_row(item["feature"], f"{item['psi']:.3f}", item["status"])
    console.print(table)
    console.print(f"{outcome.events} drift event(s) recorded")
