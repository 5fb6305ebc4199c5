"""The error report (one CSV line per problem) and the running counts of an import."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from leadscore.integrations.importers.reader import RowProblem

REPORT_COLUMNS = ("line", "column", "value", "reason")
MAX_VALUE_CHARS = 200
# Problems kept in memory to show in the summary (the file holds them all).
KEPT_PROBLEMS = 100


class ErrorReport:
    """Writes rejected rows' problems to a CSV file, opened on the first problem.

    With ``path=None`` nothing is written (service tests read ``problems``).
    """

    def __init__(self, path: Path | None = None, *, create_empty: bool = False) -> None:
        self.path = path
        self.problems: list[RowProblem] = []
        self.count = 0
        self._handle: IO[str] | None = None
        self._writer: Any = None
        if create_empty:
            self._open()

    def _open(self) -> None:
        if self.path is None or self._handle is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._handle)
        self._writer.writerow(REPORT_COLUMNS)

    def add(self, problem: RowProblem) -> None:
        self.count += 1
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append(problem)
        if self.path is None:
            return
        self._open()
        value = "" if problem.value is None else str(problem.value)
        if len(value) > MAX_VALUE_CHARS:
            value = value[:MAX_VALUE_CHARS] + "..."
        self._writer.writerow((problem.line, problem.column, value, problem.reason))

    @property
    def written(self) -> bool:
        return self._handle is not None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


@dataclass
class ImportResult:
    """Counts of one import, updated as batches are written."""

    kind: str
    dataset: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    # Rows whose id appeared earlier in the same file: the later row wins.
    duplicates: int = 0
    # Rows read but intentionally not written (e.g. an outcome still open).
    skipped: int = 0
    last_line: int = 0
    # Kind-specific figures: outcomes won/lost, agents created, assignments...
    extra: dict[str, int] = field(default_factory=dict)
    attribute_types: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, name: str, count: int = 1) -> None:
        if count:
            self.extra[name] = self.extra.get(name, 0) + count

    @property
    def imported(self) -> int:
        return self.inserted + self.updated + self.duplicates
