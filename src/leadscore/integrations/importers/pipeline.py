"""The streaming loop every import runs.

Rows are parsed one by one (bad ones go to the error report), collected into
batches, and each batch is written inside a savepoint: if the database still
refuses something we did not foresee, the batch is retried row by row so only
the offending rows are lost. The caller commits in ``on_batch``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from sqlalchemy.exc import DataError, IntegrityError

from leadscore.integrations.importers.base import BatchCounts, Importer, Record
from leadscore.integrations.importers.reader import RowProblem
from leadscore.integrations.importers.report import ErrorReport, ImportResult


def dedupe(records: list[Record]) -> tuple[list[Record], int]:
    """Keep the last record of each key (a later row for the same id wins)."""
    by_key: dict[str, Record] = {}
    for record in records:
        by_key.pop(record.key, None)
        by_key[record.key] = record
    return list(by_key.values()), len(records) - len(by_key)


def run(
    importer: Importer,
    report: ErrorReport,
    *,
    batch_size: int,
    on_batch: Callable[[ImportResult], None] | None = None,
) -> ImportResult:
    """Stream the source through the importer; the caller owns the transaction."""
    result = importer.result
    session = importer.session
    importer.batch_size = batch_size
    batch: list[Record] = []

    def reject(problems: Iterable[RowProblem]) -> None:
        lines = set()
        for problem in problems:
            report.add(problem)
            lines.add(problem.line)
        result.rejected += len(lines)

    def flush() -> None:
        nonlocal batch
        if not batch:
            return
        records, repeated = dedupe(batch)
        result.duplicates += repeated
        batch = []
        try:
            with session.begin_nested():
                counts = importer.write(records)
        except (IntegrityError, DataError):
            importer.forget()
            counts = _write_one_by_one(importer, records, reject)
        counts.merge_into(result)
        reject(counts.problems)
        if on_batch is not None:
            on_batch(result)

    for item in importer.source.rows():
        result.rows_read += 1
        result.last_line = item.line
        if isinstance(item, RowProblem):
            reject([item])
            continue
        problems: list[RowProblem] = []
        record = importer.parse(item, problems)
        if problems:
            reject(problems)
            continue
        if record is None:
            result.skipped += 1
            continue
        batch.append(record)
        if len(batch) >= batch_size:
            flush()
    flush()
    importer.finish(lambda: on_batch(result) if on_batch is not None else None)
    result.attribute_types = importer.attribute_types()
    return result


def _write_one_by_one(
    importer: Importer, records: Sequence[Record], reject: Callable[[Iterable[RowProblem]], None]
) -> BatchCounts:
    total = BatchCounts()
    for record in records:
        try:
            with importer.session.begin_nested():
                counts = importer.write([record])
        except (IntegrityError, DataError) as exc:
            importer.forget()
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            reject([RowProblem(record.line, "", "", f"rejected by the database: {reason}")])
            continue
        total.inserted += counts.inserted
        total.updated += counts.updated
        total.duplicates += counts.duplicates
        total.skipped += counts.skipped
        total.problems.extend(counts.problems)
        for name, count in counts.extra.items():
            total.add(name, count)
    return total

