"""``leadscore demo``: build the demo brokerage into the configured database."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import typer
from rich.table import Table

from leadscore.core.cli import UserError, clean_errors, console, open_runtime, progress_bar
from leadscore.core.config import mask_url
from leadscore.core.database import session_scope
from leadscore.demo import pipeline
from leadscore.demo import truth as truth_files
from leadscore.demo.service import DemoResult, build_demo
from leadscore.demo.world import World

MAX_LEADS = 2_000_000
GENERATION_STEPS = ("agents", "leads", "activity", "mechanism", "interactions", "truth")
WRITE_STEPS = ("agents", "properties", "leads", "assignments", "outcomes", "interactions")


def _parse_end(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--end {value}: not a date, use YYYY-MM-DD") from None


def summary_table(result: DemoResult, database_url: str, elapsed: float, truth: Path | None) -> Table:
    s = result.summary
    counts = result.counts
    table = Table(title="leadscore demo world", show_header=False)
    table.add_column("item", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("agents", f"{counts['agents']:,}")
    table.add_row("properties", f"{counts['properties']:,}")
    table.add_row("leads", f"{counts['leads']:,}")
    table.add_row("interactions", f"{counts['interactions']:,}")
    table.add_row("assignments", f"{counts['assignments']:,}")
    table.add_row("won / lost / open", f"{s['won']:,} / {s['lost']:,} / {s['open']:,}")
    table.add_row("conversion rate (closed leads)", f"{s['conversion_rate']:.1%}")
    table.add_row("total deal value", f"${s['deal_value']:,.0f}")
    table.add_row(
        "leads created", f"{s['first_lead']:%Y-%m-%d} to {s['last_lead']:%Y-%m-%d} (world as of {s['end']:%Y-%m-%d})"
    )
    table.add_row("elapsed", f"{elapsed:.1f} s (generate {result.generate_seconds:.1f} s, write {result.write_seconds:.1f} s)")
    table.add_row("database", mask_url(database_url) or "")
    if truth is not None:
        table.add_row("truth", f"{truth} (+ {truth_files.agents_path(truth).name})")
    return table


@clean_errors
def demo_command(
    leads: int = typer.Option(50_000, "--leads", help="Number of leads to generate."),
    seed: int = typer.Option(7, "--seed", help="Random seed; the same seed, leads and end give the same world."),
    end: str | None = typer.Option(None, "--end", help="Last day of the world, YYYY-MM-DD (default: today, UTC)."),
    truth: Path | None = typer.Option(
        None, "--truth", help="Also export the hidden truth for evaluation (.csv, .csv.gz or .parquet).",
        dir_okay=False,
    ),
    train: bool = typer.Option(
        True, "--train/--no-train",
        help="After building: train the models, score every lead, compute forecasts and dashboard statistics "
        "(--no-train builds the world and the logins only)."),
    history_weeks: int = typer.Option(
        13, "--history-weeks", min=0, max=26,
        help="Weeks of past weekly scoring replayed by a model trained on what was known then, so realised "
        "accuracy and calibration are measurable at once (0: none)."),
    password: str | None = typer.Option(
        None, "--password", help="Password of the demo logins (default: a new random one, printed)."),
) -> None:
    """Build a deterministic demo brokerage (replaces the previous "demo" dataset), train and score it,
    and create one login per role."""
    started = time.perf_counter()
    if leads < 1:
        raise UserError(f"--leads {leads}: must be at least 1")
    if leads > MAX_LEADS:
        raise UserError(f"--leads {leads}: at most {MAX_LEADS:,}")
    end_date = _parse_end(end)
    if truth is not None:
        truth = truth_files.check_path(truth)
    if password is not None:
        from leadscore.web.passwords import WeakPassword, check_strength

        try:
            check_strength(password)
        except WeakPassword as exc:
            raise UserError(f"--password: {exc}") from None
    password = password or pipeline.generate_password()

    staged: list[tuple[Path, Path]] = []
    with open_runtime() as runtime, progress_bar() as bar:
        generate = bar.add_task("generating the world", total=len(GENERATION_STEPS))
        write_tasks: dict[str, int] = {}

        def on_world(world: World) -> None:
            sizes = {
                "agents": len(world.agents), "properties": len(world.properties), "leads": len(world.leads),
                "assignments": len(world.assignments), "outcomes": len(world.outcomes),
                "interactions": len(world.interactions),
            }
            for step in WRITE_STEPS:
                write_tasks[step] = bar.add_task(f"writing {step}", total=sizes[step])
            if truth is not None:
                staged.extend(truth_files.stage_truth(world, truth))

        try:
            with session_scope(runtime.sessions) as session:
                result = build_demo(
                    session,
                    n_leads=leads,
                    seed=seed,
                    end=end_date,
                    on_world=on_world,
                    generate_progress=lambda _step: bar.advance(generate),
                    write_progress=lambda step, n: bar.advance(write_tasks[step], n) if step in write_tasks else None,
                )
        except BaseException:
            truth_files.discard(staged)
            raise
        truth_files.publish(staged)
        url = runtime.settings.effective_database_url
        built = time.perf_counter()
        steps = run_models(runtime, bar, seed=seed, history_weeks=history_weeks) if train else []
        logins = pipeline.create_logins(runtime.sessions, password=password)
    console.print(summary_table(result, url, built - started, truth))
    if steps:
        console.print(steps_table(steps, time.perf_counter() - built))
    elif not train:
        console.print("models not trained (--no-train): run `leadscore train --dataset demo` and "
                      "`leadscore score --dataset demo` to fill the dashboard")
    console.print(logins_table(logins, password))


def run_models(runtime, bar, *, seed: int, history_weeks: int) -> list[tuple[str, str, float]]:  # noqa: ANN001
    """Train, score and precompute, each step with its own progress bar; returns (step, result, seconds)."""
    sessions, settings = runtime.sessions, runtime.settings
    steps: list[tuple[str, str, float]] = []

    def fraction_task(title: str):  # noqa: ANN202
        task = bar.add_task(title, total=100)

        def progress(step: str, fraction: float) -> None:
            bar.update(task, completed=round(fraction * 100), description=f"{title}: {step}")
        return task, progress

    if history_weeks:
        started = time.perf_counter()
        task, progress = fraction_task("history model")
        history = pipeline.train_history_model(sessions, weeks=history_weeks, seed=seed, progress=progress)
        bar.update(task, completed=100, description="history model")
        steps.append(("history model", "skipped: too few leads had closed by then" if history is None else
                      f"v{history.version} trained on {history.trained_on:,} leads closed before "
                      f"{history.cutoff:%Y-%m-%d}; {history.scores:,} weekly scores over {history.weeks} weeks",
                      time.perf_counter() - started))
    started = time.perf_counter()
    task, progress = fraction_task("conversion and predictive models")
    result = pipeline.train_models(sessions, seed=seed, tolerance=settings.promotion_tolerance, progress=progress)
    bar.update(task, completed=100, description="conversion and predictive models")
    if result.status != "succeeded":
        raise UserError(f"training failed (job {result.job_id}): {result.message}")
    predictive = _predictive_summary(sessions)
    steps.append(("models", f"conversion v{result.version} {'promoted' if result.promoted else 'kept as candidate'}"
                  f" ({result.decision}); {predictive}", time.perf_counter() - started))
    started = time.perf_counter()
    task = bar.add_task("scoring leads", total=None)
    summary = pipeline.score_all(sessions, min_delta=settings.score_change_min_delta,
                                 progress=lambda done, total: bar.update(task, completed=done, total=total))
    with session_scope(sessions, write=False) as session:
        forecasts = _count_predictions(session)
    steps.append(("scores", f"{summary.scored:,} leads with v{summary.model_version}; forecasts and next actions "
                  f"for {forecasts:,} open leads", time.perf_counter() - started))
    started = time.perf_counter()
    task = bar.add_task("dashboard statistics", total=None)
    done = pipeline.refresh_statistics(sessions)
    bar.update(task, total=1, completed=1)
    steps.append(("dashboard statistics", ", ".join(f"{k} ({v})" for k, v in done.items()),
                  time.perf_counter() - started))
    return steps


def _predictive_summary(sessions) -> str:  # noqa: ANN001
    from sqlalchemy import select

    from leadscore.registry.models import TrainingJob

    with session_scope(sessions, write=False) as session:
        jobs = session.execute(select(TrainingJob.kind, TrainingJob.status, TrainingJob.message)
                               .where(TrainingJob.dataset == "demo", TrainingJob.kind != "conversion")
                               .order_by(TrainingJob.id.desc()).limit(3)).all()
    return ", ".join(f"{kind.replace('_', ' ')} {status}" + ("" if status == "succeeded" else f" ({message})")
                     for kind, status, message in reversed(jobs)) or "no predictive models"


def _count_predictions(session) -> int:  # noqa: ANN001
    from sqlalchemy import func, select

    from leadscore.insights.models import LeadPrediction
    from leadscore.leads.models import Lead

    return int(session.scalar(select(func.count()).select_from(LeadPrediction)
                              .join(Lead, Lead.id == LeadPrediction.lead_id).where(Lead.dataset == "demo")) or 0)


def steps_table(steps: list[tuple[str, str, float]], elapsed: float) -> Table:
    table = Table(title=f"models, scores and statistics ({elapsed:.0f} s)")
    table.add_column("step", style="bold")
    table.add_column("result", overflow="fold")
    table.add_column("seconds", justify="right")
    for name, text, seconds in steps:
        table.add_row(name, text, f"{seconds:.0f}")
    return table


def logins_table(logins: list[pipeline.Login], password: str) -> Table:
    table = Table(title="log in at http://127.0.0.1:8000/ after `leadscore serve`")
    table.add_column("role", style="bold")
    table.add_column("e-mail", overflow="fold", min_width=24)  # never elided: people type these
    table.add_column("password", overflow="fold", min_width=16)
    table.add_column("sees")
    for login in logins:
        sees = {"agent": f"the queue of agent {login.agent}", "manager": "team, forecasts, behaviour, every queue",
                "admin": "models, accuracy, drift, data quality, and everything else"}[login.role]
        table.add_row(login.role, login.email, password, sees)
    return table
