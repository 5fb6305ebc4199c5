"""Import files into the database: prepare (checks, no writes), run, and record the run.

Nothing here commits. The command (or job) that calls ``run_import`` commits
in its ``on_batch`` callback, which keeps memory bounded on large files and
lets a dry run simply roll back at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadscore.core import audit, outbox
from leadscore.core.bulk import upsert_rows
from leadscore.core.database import utcnow
from leadscore.integrations.importers.agents import AgentImporter
from leadscore.integrations.importers.inference import widen
from leadscore.integrations.importers.interactions import InteractionImporter
from leadscore.integrations.importers.leads import LeadImporter
from leadscore.integrations.importers.outcomes import OutcomeImporter
from leadscore.integrations.importers.base import Importer
from leadscore.integrations.importers.pipeline import run
from leadscore.integrations.importers.properties import PropertyImporter
from leadscore.integrations.importers.reader import Source, open_source
from leadscore.integrations.importers.report import ErrorReport, ImportResult
from leadscore.integrations.models import AttributeColumn, ImportRun
from leadscore.integrations.schemas import OPTION_MODELS, ImportOptions

IMPORTERS: dict[str, type[Importer]] = {
    "leads": LeadImporter,
    "interactions": InteractionImporter,
    "agents": AgentImporter,
    "outcomes": OutcomeImporter,
    "properties": PropertyImporter,
}


@dataclass
class PreparedImport:
    kind: str
    path: Path
    options: ImportOptions
    source: Source
    importer: Importer

    @property
    def result(self) -> ImportResult:
        return self.importer.result


def prepare_import(session: Session, kind: str, path: Path | str, options: ImportOptions) -> PreparedImport:
    """Check the file and the options against it and the database; write nothing.

    Raises FileRefused (a UserError) with a one-line reason.
    """
    if not isinstance(options, OPTION_MODELS[kind]):
        raise TypeError(f"{kind} imports take {OPTION_MODELS[kind].__name__}")
    source = open_source(
        path,
        format=options.format,
        encoding=options.encoding,
        delimiter=options.delimiter,
        na_values=options.na_values,
    )
    importer = IMPORTERS[kind](session, source, options, ImportResult(kind=kind, dataset=options.dataset))
    importer.prepare()
    return PreparedImport(kind=kind, path=Path(path), options=options, source=source, importer=importer)


def run_import(
    prepared: PreparedImport,
    report: ErrorReport,
    *,
    batch_size: int = 2000,
    on_batch: Callable[[ImportResult], None] | None = None,
) -> ImportResult:
    """Stream every row in; ``on_batch`` runs after each written batch (commit there)."""
    importer = prepared.importer
    # Recorded up front so attributes written by committed batches are always described.
    save_attribute_columns(importer.session, importer.dataset, importer.entity, importer.attribute_types())
    result = run(importer, report, batch_size=batch_size, on_batch=on_batch)
    save_attribute_columns(importer.session, importer.dataset, importer.entity, result.attribute_types)
    return result


def import_file(
    session: Session,
    kind: str,
    path: Path | str,
    options: ImportOptions,
    *,
    report: ErrorReport | None = None,
    batch_size: int = 2000,
    on_batch: Callable[[ImportResult], None] | None = None,
) -> ImportResult:
    """Prepare and run in one call (for jobs and tests)."""
    prepared = prepare_import(session, kind, path, options)
    return run_import(prepared, report or ErrorReport(), batch_size=batch_size, on_batch=on_batch)


def save_attribute_columns(session: Session, dataset: str, entity: str, types: dict[str, str]) -> None:
    """Record the type of each attribute column, widening a type seen before."""
    if not types:
        return
    table = AttributeColumn.__table__
    statement = select(table.c.name, table.c.type).where(table.c.dataset == dataset, table.c.entity == entity)
    known = {name: kind for name, kind in session.execute(statement)}
    rows = []
    for name, kind in types.items():
        merged = widen(known[name], kind) if name in known else kind
        if known.get(name) != merged:
            rows.append({"dataset": dataset, "entity": entity, "name": name, "type": merged})
    upsert_rows(session, table, rows, key=["dataset", "entity", "name"], update=["type"])


def start_run(session: Session, prepared: PreparedImport, *, report_path: Path | None) -> ImportRun:
    run_row = ImportRun(
        kind=prepared.kind,
        dataset=prepared.options.dataset,
        file_name=str(prepared.path.resolve())[-500:],
        file_sha256=prepared.source.sha256,
        status="running",
        error_report=str(report_path)[-500:] if report_path else None,
        options=prepared.options.model_dump(mode="json"),
    )
    session.add(run_row)
    session.flush()
    return run_row


def update_run(run_row: ImportRun, result: ImportResult) -> None:
    run_row.rows_read = result.rows_read
    run_row.rows_inserted = result.inserted
    run_row.rows_updated = result.updated + result.duplicates
    run_row.rows_failed = result.rejected
    run_row.stats = {"duplicates": result.duplicates, "skipped": result.skipped, **result.extra}


# Queued when an import that changes leads or their interactions commits: the scoring domain
# rescores the open leads it touched (payload: dataset, kind, since = the run's start).
IMPORTED_TOPIC = "import.finished"
RESCORING_KINDS = ("leads", "interactions")


def finish_run(session: Session, run_row: ImportRun, result: ImportResult, report: ErrorReport, *, actor: str) -> None:
    update_run(run_row, result)
    if result.kind in RESCORING_KINDS and (result.inserted or result.updated):
        outbox.enqueue(session, IMPORTED_TOPIC, {"dataset": result.dataset, "kind": result.kind,
                                                 "since": run_row.started_at.isoformat()})
    run_row.status = "with_errors" if result.rejected else "completed"
    run_row.finished_at = utcnow()
    run_row.error_report = str(report.path)[-500:] if report.written and report.path else None
    run_row.message = "; ".join(result.warnings) or None
    audit.record(
        session,
        actor=actor,
        action=f"import.{result.kind}",
        entity_type="import_run",
        entity_id=run_row.id,
        details={
            "dataset": result.dataset,
            "file": run_row.file_name,
            "sha256": run_row.file_sha256,
            "read": result.rows_read,
            "inserted": result.inserted,
            "updated": result.updated,
            "rejected": result.rejected,
        },
    )


def fail_run(session: Session, run_id: int, message: str) -> None:
    """Mark a run failed after its transaction was rolled back (committed batches stay)."""
    run_row = session.get(ImportRun, run_id)
    if run_row is not None:
        run_row.status = "failed"
        run_row.finished_at = utcnow()
        run_row.message = message[:2000]
