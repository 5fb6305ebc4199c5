"""`leadscore score`: rescore the database, or score a file without storing it."""

from __future__ import annotations

from pathlib import Path

import typer

from leadscore.core.cli import UserError, clean_errors, console, open_runtime, progress_bar
from leadscore.core.database import session_scope
from leadscore.registry import service as registry
from leadscore.scoring.batch import rescore_dataset, score_file


@clean_errors
def score_command(
    file: Path = typer.Argument(None, help="Score this CSV / JSON Lines file instead of the database."),
    out: Path = typer.Option(None, "--out", "-o", help="Where to write the scored file (CSV)."),
    dataset: str = typer.Option("default", "--dataset", "-d", help="Dataset (and its champion model)."),
    id_column: str = typer.Option(None, "--id", help="Column of FILE to copy into the output as the id."),
    open_only: bool = typer.Option(False, "--open-only", help="Only leads not yet won or lost."),
) -> None:
    """Rescore all leads of a dataset with its champion, or score FILE into --out."""
    with open_runtime() as runtime:
        if file is not None:
            if out is None:
                raise UserError("scoring a file needs --out FILE")
            with session_scope(runtime.sessions) as session:
                champion = registry.get_champion(session, dataset=dataset)
                if champion is None:
                    raise UserError(f"dataset {dataset!r} has no champion model: run `leadscore train --dataset {dataset}`")
                model = registry.load_model(session, champion).model
            with progress_bar() as bar:
                task = bar.add_task(f"scoring {file.name}", total=None)
                rows = score_file(file, out, model, id_column=id_column,
                                  progress=lambda n: bar.update(task, completed=n))
            console.print(f"scored {rows:,} rows of {file} into {out} (nothing stored)")
            return
        with progress_bar() as bar:
            task = bar.add_task(f"rescoring {dataset}", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            summary = rescore_dataset(runtime.sessions, dataset=dataset, open_only=open_only,
                                      min_delta=runtime.settings.score_change_min_delta, progress=progress)
        console.print(
            f"scored {summary.scored:,} leads with model version {summary.model_version} ({summary.model_kind}); "
            f"{summary.changed:,} notable changes; {summary.skipped_no_consent:,} skipped (profiling opt-out)"
        )
