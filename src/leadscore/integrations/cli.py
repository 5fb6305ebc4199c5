"""`leadscore import leads|interactions|agents|outcomes|properties FILE ...`.

Each command parses its options, checks the file as a whole (nothing is
written if that fails: exit 2), then streams it in, committing after every
batch. Rows that cannot be imported go to the error report and make the
exit code 1; the good rows are kept either way.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from leadscore.core.cli import UserError, clean_errors, console, err_console, open_runtime, progress_bar
from leadscore.core.database import begin_write
from leadscore.integrations import service
from leadscore.integrations.importers.report import ErrorReport, ImportResult
from leadscore.integrations.schemas import Join, build_options

import_app = typer.Typer(
    help="Import CSV or JSON Lines files: leads, interactions, agents, outcomes, properties.",
    no_args_is_help=True,
)

ACTOR = "cli"
EXIT_OK, EXIT_REJECTED, EXIT_REFUSED = 0, 1, 2
SHOWN_PROBLEMS = 5

File = Annotated[Path, typer.Argument(help="CSV or JSON Lines (.jsonl) file.", show_default=False)]
Dataset = Annotated[str, typer.Option("--dataset", help="Namespace of the file's ids (one per source system).")]
IdColumn = Annotated[str | None, typer.Option("--id", help="Column holding each row's id (its external id).")]
MapOption = Annotated[
    list[str] | None,
    typer.Option("--map", help="field=column; repeat it or separate pairs with commas."),
]
Format = Annotated[str | None, typer.Option("--format", help="csv or jsonl (default: from the file extension).")]
Delimiter = Annotated[str | None, typer.Option("--delimiter", help="CSV delimiter, e.g. ';' or tab (default ',').")]
Encoding = Annotated[str, typer.Option("--encoding", help="Text encoding (a UTF-8 byte-order mark is handled).")]
NaValues = Annotated[list[str] | None, typer.Option("--na-values", help="A value meaning 'missing' (repeatable), e.g. Select.")]
Exclude = Annotated[list[str] | None, typer.Option("--exclude", help="Column to leave out entirely (repeatable).")]
AutoMap = Annotated[bool, typer.Option("--auto-map/--no-auto-map", help="Map columns named like a field (e.g. email).")]
DayFirst = Annotated[bool, typer.Option("--day-first", help="Read ambiguous dates like 03/04/2024 as 3 April.")]
JoinFile = Annotated[list[Path] | None, typer.Option("--join", help="Lookup CSV whose other columns become attributes.")]
JoinOn = Annotated[list[str] | None, typer.Option("--on", help="Column matching the --join file (one per --join).")]
Errors = Annotated[Path | None, typer.Option("--errors", help="Error report path (default: LEADSCORE_HOME/reports/).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Check every row and count, then roll back: write nothing.")]
BatchSize = Annotated[int | None, typer.Option("--batch-size", min=1, max=100_000, help="Rows per transaction.")]
Positive = Annotated[list[str] | None, typer.Option("--positive", help="Value meaning won (repeatable).")]
Negative = Annotated[
    list[str] | None,
    typer.Option("--negative", help="Value meaning lost (repeatable; default: any other non-empty value)."),
]
ClosedAt = Annotated[str | None, typer.Option("--closed-at", help="Column with the date the outcome was decided.")]
Value = Annotated[str | None, typer.Option("--value", help="Column with the deal value.")]
LeadId = Annotated[str | None, typer.Option("--lead-id", help="Column with the lead's external id.")]


def parse_map(items: list[str] | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items or []:
        parts = item.split(",")
        # "a=x,b=y" is two pairs; "notes=Remarks, misc" is one column with a comma.
        pairs = parts if len(parts) > 1 and all("=" in p for p in parts) else [item]
        for pair in pairs:
            field, sep, column = pair.partition("=")
            if not sep or not field.strip() or not column.strip():
                raise UserError(f"--map {pair!r}: expected field=column, e.g. --map source='Lead Source'")
            mapping[field.strip()] = column.strip()
    return mapping


def parse_joins(files: list[Path] | None, on: list[str] | None) -> list[Join]:
    files, on = files or [], on or []
    if len(files) != len(on):
        raise UserError("give one --on COLUMN for each --join FILE")
    return [Join(path=f, on=o) for f, o in zip(files, on)]


def common_options(
    dataset: str,
    id_column: str | None,
    mapping: list[str] | None,
    format: str | None,
    delimiter: str | None,
    encoding: str,
    na_values: list[str] | None,
    exclude: list[str] | None,
    auto_map: bool,
    day_first: bool,
    join: list[Path] | None,
    on: list[str] | None,
) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "id_column": id_column,
        "mapping": parse_map(mapping),
        "format": format.lower() if format else None,
        "delimiter": delimiter,
        "encoding": encoding,
        "na_values": na_values or [],
        "exclude": exclude or [],
        "auto_map": auto_map,
        "day_first": day_first,
        "joins": parse_joins(join, on),
    }


def default_report_path(home: Path, kind: str, dataset: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return home / "reports" / f"import-{kind}-{dataset}-{stamp}.csv"


def execute(kind: str, file: Path, values: dict[str, Any], *, errors: Path | None, dry_run: bool, batch_size: int | None) -> None:
    """Run one import command end to end and exit with 0, 1 or 2."""
    options = build_options(kind, **values)
    with open_runtime() as runtime:
        session = runtime.sessions()
        try:
            prepared = service.prepare_import(session, kind, file, options)
            session.rollback()  # end the read-only transaction of the checks
            report_path = errors or default_report_path(runtime.settings.home, kind, options.dataset)
            try:
                report = ErrorReport(report_path, create_empty=errors is not None)
            except OSError as exc:
                raise UserError(f"--errors {report_path}: cannot write ({exc.strerror or exc})") from None
            size = batch_size or runtime.settings.import_batch_size
            result = _run(session, prepared, report, size, dry_run)
        finally:
            session.close()
    _print_summary(result, report, dry_run)
    raise typer.Exit(EXIT_REJECTED if result.rejected else EXIT_OK)


def _run(session: Any, prepared: service.PreparedImport, report: ErrorReport, batch_size: int, dry_run: bool) -> ImportResult:
    run_row = None
    # Every transaction here reads then writes: on SQLite it must take the
    # write lock up front, or a concurrent writer makes it fail mid-import.
    begin_write(session)
    if not dry_run:
        run_row = service.start_run(session, prepared, report_path=report.path)
        session.commit()
        begin_write(session)
    header = 1 if prepared.source.format == "csv" else 0
    try:
        with progress_bar() as progress:
            task = progress.add_task(f"{prepared.kind} from {prepared.path.name}", total=max(1, prepared.source.lines - header))

            def on_batch(result: ImportResult) -> None:
                if run_row is not None:
                    service.update_run(run_row, result)
                    session.commit()
                    begin_write(session)
                progress.update(task, completed=max(0, result.last_line - header))

            result = service.run_import(prepared, report, batch_size=batch_size, on_batch=on_batch)
            progress.update(task, completed=max(1, prepared.source.lines - header))
    except BaseException as exc:
        session.rollback()
        report.close()
        if run_row is not None:
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
            begin_write(session)
            service.fail_run(session, run_row.id, reason)
            session.commit()
        raise
    report.close()
    if dry_run:
        session.rollback()
    else:
        assert run_row is not None
        service.finish_run(session, run_row, result, report, actor=ACTOR)
        session.commit()
    return result


def _print_summary(result: ImportResult, report: ErrorReport, dry_run: bool) -> None:
    title = f"import {result.kind} into dataset {result.dataset!r}" + (" (dry run: nothing written)" if dry_run else "")
    table = Table(title=title, show_header=False)
    table.add_column("what")
    table.add_column("rows", justify="right")
    table.add_row("read", f"{result.rows_read:,}")
    table.add_row("inserted", f"{result.inserted:,}")
    table.add_row("updated", f"{result.updated:,}")
    if result.duplicates:
        table.add_row("repeated id (later row kept)", f"{result.duplicates:,}")
    if result.skipped:
        table.add_row("skipped (no outcome yet)" if result.kind == "outcomes" else "skipped", f"{result.skipped:,}")
    table.add_row("rejected", f"{result.rejected:,}", style="red" if result.rejected else None)
    labels = {
        "won": "outcomes won", "lost": "outcomes lost", "open": "still open (no outcome)",
        "others_lost": "other leads marked lost (--others lost)", "agents_created": "agents created",
        "assigned": "assignments written", "reassigned": "assignments ended (new agent)",
        "join_unmatched": "rows without a --join match",
    }  # fmt: skip
    order = list(labels)
    for name, count in sorted(result.extra.items(), key=lambda item: order.index(item[0]) if item[0] in order else 99):
        if count:
            table.add_row(labels.get(name, name), f"{count:,}")
    if report.written:
        table.add_row("error report", str(report.path))
    console.print(table)
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if result.rejected:
        for problem in report.problems[:SHOWN_PROBLEMS]:
            where = f"line {problem.line}" + (f", column {problem.column!r}" if problem.column else "")
            err_console.print(f"  {where}: {problem.reason}", highlight=False)
        more = report.count - min(report.count, SHOWN_PROBLEMS)
        err_console.print(
            f"[red]{result.rejected:,} row(s) rejected[/]"
            + (f" ({more:,} more problem(s))" if more > 0 else "")
            + (f"; see {report.path}" if report.written else ""),
            highlight=False,
        )


@import_app.command("leads")
@clean_errors
def import_leads(
    file: File,
    dataset: Dataset = "default",
    id_column: IdColumn = None,
    target: Annotated[str | None, typer.Option("--target", help="Column telling won / lost / open.")] = None,
    positive: Positive = None,
    negative: Negative = None,
    created_at: Annotated[str | None, typer.Option("--created-at", help="Column with the lead's arrival date (without it the arrival time is unknown and no lead-age features are made).")] = None,
    closed_at: ClosedAt = None,
    value: Value = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Column with the owning agent's id or name (created if unknown).")] = None,
    mapping: MapOption = None,
    format: Format = None,
    delimiter: Delimiter = None,
    encoding: Encoding = "utf-8",
    na_values: NaValues = None,
    exclude: Exclude = None,
    auto_map: AutoMap = True,
    day_first: DayFirst = False,
    join: JoinFile = None,
    on: JoinOn = None,
    errors: Errors = None,
    dry_run: DryRun = False,
    batch_size: BatchSize = None,
) -> None:
    """Import leads; with --target, also their outcome (won / lost)."""
    values = common_options(dataset, id_column, mapping, format, delimiter, encoding, na_values, exclude, auto_map, day_first, join, on)
    values.update(
        target=target, positive=positive or [], negative=negative or [], created_at=created_at,
        closed_at=closed_at, value=value, agent=agent,
    )  # fmt: skip
    execute("leads", file, values, errors=errors, dry_run=dry_run, batch_size=batch_size)


@import_app.command("outcomes")
@clean_errors
def import_outcomes(
    file: File,
    dataset: Dataset = "default",
    lead_id: LeadId = None,
    result: Annotated[str | None, typer.Option("--result", help="won or lost for every row of the file.")] = None,
    result_column: Annotated[str | None, typer.Option("--result-column", help="Column telling won / lost / open.")] = None,
    positive: Positive = None,
    negative: Negative = None,
    closed_at: ClosedAt = None,
    value: Value = None,
    others: Annotated[str | None, typer.Option("--others", help="'lost': leads of the dataset without an outcome did not convert.")] = None,
    mapping: MapOption = None,
    format: Format = None,
    delimiter: Delimiter = None,
    encoding: Encoding = "utf-8",
    na_values: NaValues = None,
    exclude: Exclude = None,
    auto_map: AutoMap = True,
    day_first: DayFirst = False,
    join: JoinFile = None,
    on: JoinOn = None,
    errors: Errors = None,
    dry_run: DryRun = False,
    batch_size: BatchSize = None,
) -> None:
    """Record outcomes (won / lost) of leads already imported, e.g. a closed-deals file."""
    values = common_options(dataset, None, mapping, format, delimiter, encoding, na_values, exclude, auto_map, day_first, join, on)
    values.update(
        lead_id=lead_id, result=result, result_column=result_column, positive=positive or [],
        negative=negative or [], closed_at=closed_at, value=value, others=others,
    )  # fmt: skip
    execute("outcomes", file, values, errors=errors, dry_run=dry_run, batch_size=batch_size)


@import_app.command("interactions")
@clean_errors
def import_interactions(
    file: File,
    dataset: Dataset = "default",
    lead_id: LeadId = None,
    id_column: Annotated[str | None, typer.Option("--id", help="Column with each interaction's id (default: derived from its content).")] = None,
    mapping: MapOption = None,
    format: Format = None,
    delimiter: Delimiter = None,
    encoding: Encoding = "utf-8",
    na_values: NaValues = None,
    exclude: Exclude = None,
    auto_map: AutoMap = True,
    day_first: DayFirst = False,
    join: JoinFile = None,
    on: JoinOn = None,
    errors: Errors = None,
    dry_run: DryRun = False,
    batch_size: BatchSize = None,
) -> None:
    """Import interactions (visits, emails, calls, showings) of leads already imported."""
    values = common_options(dataset, id_column, mapping, format, delimiter, encoding, na_values, exclude, auto_map, day_first, join, on)
    values["lead_id"] = lead_id
    execute("interactions", file, values, errors=errors, dry_run=dry_run, batch_size=batch_size)


def _register_simple(kind: str, summary: str) -> None:
    """agents and properties take only the common options."""

    def command(
        file: File,
        dataset: Dataset = "default",
        id_column: IdColumn = None,
        mapping: MapOption = None,
        format: Format = None,
        delimiter: Delimiter = None,
        encoding: Encoding = "utf-8",
        na_values: NaValues = None,
        exclude: Exclude = None,
        auto_map: AutoMap = True,
        day_first: DayFirst = False,
        join: JoinFile = None,
        on: JoinOn = None,
        errors: Errors = None,
        dry_run: DryRun = False,
        batch_size: BatchSize = None,
    ) -> None:
        values = common_options(dataset, id_column, mapping, format, delimiter, encoding, na_values, exclude, auto_map, day_first, join, on)
        execute(kind, file, values, errors=errors, dry_run=dry_run, batch_size=batch_size)

    command.__doc__ = summary
    import_app.command(kind)(clean_errors(command))


_register_simple("agents", "Import sales agents (team, specialties, languages, territories, capacity).")
_register_simple("properties", "Import property records and listings.")
