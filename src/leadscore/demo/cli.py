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
) -> None:
    """Build a deterministic demo brokerage (replaces the previous "demo" dataset)."""
    started = time.perf_counter()
    if leads < 1:
        raise UserError(f"--leads {leads}: must be at least 1")
    if leads > MAX_LEADS:
        raise UserError(f"--leads {leads}: at most {MAX_LEADS:,}")
    end_date = _parse_end(end)
    if truth is not None:
        truth = truth_files.check_path(truth)

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
    console.print(summary_table(result, url, time.perf_counter() - started, truth))
