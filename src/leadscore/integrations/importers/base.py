"""The base class every importer extends, and the records it passes around.

An importer first resolves which column feeds which field and infers the
types of the remaining columns from the sample; any configuration problem
is raised then, before a single write (see ``prepare``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, ClassVar

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from leadscore.core.bulk import upsert_rows
from leadscore.core.database import utcnow
from leadscore.integrations.importers.fields import FieldError, FieldSpec, make_parser, normalise
from leadscore.integrations.importers.inference import (
    AttributeConverter,
    converter_for_value,
    infer_column,
)
from leadscore.integrations.importers.reader import FileRefused, Row, RowProblem, Source
from leadscore.integrations.importers.report import ImportResult
from leadscore.integrations.schemas import ImportOptions

MAX_KEY_LENGTH = 128  # external_id columns
MAX_ATTRIBUTE_NAME = 200  # AttributeColumn.name
MAX_JOIN_ROWS = 200_000  # lookup files are held in memory
# Common spellings of location columns that auto-map to our fields.
LOCATION_ALIASES = {
    "zip": "postcode", "zipcode": "postcode", "zip_code": "postcode", "postal_code": "postcode",
    "lat": "latitude", "lng": "longitude", "lon": "longitude", "long": "longitude",
}  # fmt: skip


@dataclass
class Record:
    """One parsed row, ready to be written."""

    line: int
    key: str
    values: dict[str, Any]
    attributes: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchCounts:
    inserted: int = 0
    updated: int = 0
    duplicates: int = 0
    skipped: int = 0
    extra: dict[str, int] = field(default_factory=dict)
    problems: list[RowProblem] = field(default_factory=list)

    def add(self, name: str, count: int = 1) -> None:
        if count:
            self.extra[name] = self.extra.get(name, 0) + count

    def merge_into(self, result: ImportResult) -> None:
        result.inserted += self.inserted
        result.updated += self.updated
        result.duplicates += self.duplicates
        result.skipped += self.skipped
        for name, count in self.extra.items():
            result.add(name, count)


def join_key(value: Any) -> str:
    """Lookup keys match ignoring case, spaces and punctuation ('GTXPro' = 'GTX Pro')."""
    return "".join(c for c in str(value).casefold() if c.isalnum())


class Importer(ABC):
    """Base of every importer: column resolution, parsing, batched writing."""

    kind: ClassVar[str]
    entity: ClassVar[str]  # AttributeColumn.entity
    table: ClassVar[Table]
    fields: ClassVar[dict[str, FieldSpec]]
    attributes_column: ClassVar[str | None] = "attributes"
    # Columns tried, in order, when --id is not given.
    id_candidates: ClassVar[tuple[str, ...]] = ("external_id", "id")
    id_required: ClassVar[bool] = True
    # Column names (normalised) that auto-map to a field besides its own name.
    aliases: ClassVar[dict[str, str]] = {}
    has_updated_at: ClassVar[bool] = False

    def __init__(self, session: Session, source: Source, options: ImportOptions, result: ImportResult) -> None:
        self.session = session
        self.source = source
        self.options = options
        self.result = result
        self.dataset = options.dataset
        self.file = source.path.name
        self.id_column: str | None = None
        self.mapping: dict[str, str] = {}  # field -> column
        self.used: set[str] = set()  # columns that never go to attributes
        self.parsers: dict[str, tuple[str, Callable[[Any], Any]]] = {}
        self.converters: dict[str, AttributeConverter] = {}
        self.late_converters: dict[str, AttributeConverter] = {}
        self.joins: list[tuple[str, dict[str, dict[str, Any]], dict[str, str]]] = []
        self.first_new_id = 0
        self.batch_size = 2000
        # A NOT NULL field left empty keeps its default (insert) or its value (update).
        self.not_null = {c.name for c in self.table.columns if not c.nullable}

    # ----- preparation: everything here runs before the first write -----

    def prepare(self) -> None:
        self.resolve_columns()
        self.auto_map()
        self.build_parsers()
        self.load_joins()
        self.infer_attributes()
        self.check_database()
        self.first_new_id = self.session.scalar(select(func.max(self.table.c.id))) or 0

    def column(self, name: str, option: str, label: str | None = None) -> str:
        """The file column called ``name`` (exact, else a unique case/space-insensitive match)."""
        columns = self.source.columns
        if name in columns:
            return name
        matches = [c for c in columns if normalise(c) == normalise(name)]
        if len(matches) == 1:
            return matches[0]
        shown = ", ".join(repr(c) for c in columns[:60]) + (" ..." if len(columns) > 60 else "")
        label = label or f"{option} {name!r}"
        raise FileRefused(f"{label}: {self.file} has no column {name!r}; its columns are: {shown}")

    def use(self, name: str, option: str, label: str | None = None) -> str:
        column = self.column(name, option, label)
        self.used.add(column)
        return column

    def resolve_columns(self) -> None:
        options = self.options
        if options.id_column:
            self.id_column = self.use(options.id_column, "--id")
        elif self.id_candidates:
            found = next((c for c in self.source.columns if normalise(c) in self.id_candidates), None)
            if found is None and self.id_required:
                raise FileRefused(
                    f"{self.file}: which column identifies each row? pass --id COLUMN "
                    f"(columns: {', '.join(repr(c) for c in self.source.columns[:40])})"
                )
            if found is not None:
                self.id_column = self.use(found, "--id")
        for field_name, column in options.mapping.items():
            self.map_field(field_name, column, "--map")
        for column in options.exclude:
            self.used.add(self.column(column, "--exclude"))

    def map_field(self, field_name: str, column: str, option: str) -> None:
        if field_name not in self.fields:
            raise FileRefused(
                f"{option} {field_name}={column}: {self.kind} have no field {field_name!r}; "
                f"fields are: {', '.join(self.fields)}"
            )
        label = f"--map {field_name}={column}" if option == "--map" else None
        self.mapping[field_name] = self.use(column, option, label)

    def auto_map(self) -> None:
        if not self.options.auto_map:
            return
        for column in self.source.columns:
            if column in self.used:
                continue
            name = normalise(column)
            name = self.aliases.get(name, name)
            if name in self.fields and name not in self.mapping:
                self.mapping[name] = column
                self.used.add(column)

    def sample_values(self, column: str) -> list[Any]:
        return [row.values.get(column) for row in self.source.sample]

    def build_parsers(self) -> None:
        for field_name, column in self.mapping.items():
            spec = self.fields[field_name]
            sample = self.sample_values(column) if spec.kind == "datetime" else ()
            self.parsers[field_name] = (column, make_parser(spec, sample, day_first=self.options.day_first))

    def infer_attributes(self) -> None:
        if self.attributes_column is None:
            return
        for column in self.source.columns:
            if column in self.used:
                continue
            if len(column) > MAX_ATTRIBUTE_NAME:
                raise FileRefused(f"column {column[:40]!r}...: names longer than {MAX_ATTRIBUTE_NAME} characters are not supported")
            self.converters[column] = AttributeConverter(
                infer_column(self.sample_values(column), day_first=self.options.day_first)
            )

    def load_joins(self) -> None:
        """Read each --join lookup file whole (they are small) and infer its columns' types."""
        from leadscore.integrations.importers.reader import open_source

        for join in self.options.joins:
            on = self.column(join.on, "--on")  # stays an attribute itself
            lookup = open_source(join.path, encoding=self.options.encoding, na_values=self.options.na_values)
            if lookup.format != "csv":
                raise FileRefused(f"--join {join.path.name}: only CSV lookup files are supported")
            if join.on not in lookup.columns:
                lookup_on = next((c for c in lookup.columns if normalise(c) == normalise(join.on)), None)
                if lookup_on is None:
                    raise FileRefused(
                        f"--join {join.path.name} --on {join.on}: the lookup file has no column {join.on!r}; "
                        f"its columns are: {', '.join(lookup.columns)}"
                    )
            else:
                lookup_on = join.on
            table: dict[str, dict[str, Any]] = {}
            for item in lookup.rows():
                if isinstance(item, RowProblem):
                    raise FileRefused(f"--join {join.path.name}: line {item.line}: {item.reason}")
                key = item.values.get(lookup_on)
                if key is not None:
                    table[join_key(key)] = item.values
                if len(table) > MAX_JOIN_ROWS:
                    raise FileRefused(f"--join {join.path.name}: more than {MAX_JOIN_ROWS:,} rows; join it before importing")
            names: dict[str, str] = {}
            for column in lookup.columns:
                if column == lookup_on:
                    continue
                # A lookup column named like a file column is kept apart by the lookup's name.
                name = column if column not in self.source.columns else f"{lookup.path.stem}.{column}"
                names[column] = name
                values = [row.get(column) for row in table.values()]
                self.converters[name] = AttributeConverter(infer_column(values, day_first=self.options.day_first))
            self.joins.append((on, table, names))

    def check_database(self) -> None:
        """Refuse configurations the database makes impossible (e.g. no leads to attach to)."""

    # ----- per row -----

    @abstractmethod
    def parse(self, row: Row, problems: list[RowProblem]) -> Record | None:
        """Turn one row into a record, or append its problems and return None."""

    def read_key(self, row: Row, column: str | None, problems: list[RowProblem], what: str = "id") -> str | None:
        if column is None:
            return None
        value = row.values.get(column)
        if value is None:
            problems.append(RowProblem(row.line, column, "", f"missing {what}"))
            return None
        if isinstance(value, dict | list | bool):
            problems.append(RowProblem(row.line, column, value, f"{what} must be a text or number"))
            return None
        key = str(value)
        if len(key) > MAX_KEY_LENGTH:
            problems.append(RowProblem(row.line, column, key, f"{what} is longer than {MAX_KEY_LENGTH} characters"))
            return None
        return key

    def parse_fields(self, row: Row, problems: list[RowProblem]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, (column, parse) in self.parsers.items():
            raw = row.values.get(column)
            if raw is None:
                if field_name not in self.not_null:
                    values[field_name] = None
                continue
            try:
                values[field_name] = parse(raw)
            except FieldError as exc:
                problems.append(RowProblem(row.line, column, raw, f"{field_name}: {exc}"))
        return values

    def parse_attributes(self, row: Row) -> dict[str, Any]:
        values = row.values
        attributes = {}
        for column, convert in self.converters.items():
            raw = values.get(column)
            if raw is not None:
                attributes[column] = convert(raw)
        if self.source.format == "jsonl":
            self._late_attributes(values, attributes)
        for on, table, names in self.joins:
            key = values.get(on)
            found = table.get(join_key(key)) if key is not None else None
            if found is None:
                if key is not None:
                    self.result.add("join_unmatched")
                continue
            for column, name in names.items():
                raw = found.get(column)
                if raw is not None:
                    attributes[name] = self.converters[name](raw)
        return attributes

    def _late_attributes(self, values: dict[str, Any], attributes: dict[str, Any]) -> None:
        """JSON Lines keys first seen after the sample: typed from their first value."""
        for key, raw in values.items():
            if key in self.converters or key in self.used or raw is None:
                continue
            convert = self.late_converters.get(key)
            if convert is None:
                convert = self.late_converters[key] = converter_for_value(raw, day_first=self.options.day_first)
            attributes[key] = convert(raw)

    # ----- per batch -----

    @abstractmethod
    def write(self, records: Sequence[Record]) -> BatchCounts:
        """Write a batch of parsed records (no commit: the command owns the transaction)."""

    def forget(self) -> None:
        """Drop caches after a rolled-back batch (ids created in it no longer exist)."""

    def finish(self, on_batch: Callable[[], None]) -> None:
        """Work after the last row (e.g. --others lost); may call on_batch to commit."""

    def existing(self, keys: Iterable[str]) -> dict[str, tuple[int, dict[str, Any]]]:
        """(id, attributes) of the rows of this dataset with these external ids."""
        table = self.table
        columns = [table.c.id, table.c.external_id]
        if self.attributes_column:
            columns.append(table.c[self.attributes_column])
        found = {}
        keys = list(keys)
        for start in range(0, len(keys), 5000):
            statement = select(*columns).where(
                table.c.dataset == self.dataset, table.c.external_id.in_(keys[start : start + 5000])
            )
            for row in self.session.execute(statement):
                found[row[1]] = (row[0], row[2] if self.attributes_column else {})
        return found

    def merge_attributes(self, old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
        """This file's columns replace their keys (an empty cell clears one); other keys stay."""
        if not old:
            return new
        mine = self.converters.keys() | self.late_converters.keys()
        merged = {k: v for k, v in old.items() if k not in mine}
        merged.update(new)
        return merged

    def upsert(self, records: Sequence[Record], counts: BatchCounts) -> None:
        """Insert or update records by (dataset, external_id), counting which was which."""
        existing = self.existing(r.key for r in records)
        now = utcnow()
        rows = []
        for record in records:
            found = existing.get(record.key)
            if found is None:
                counts.inserted += 1
            elif found[0] > self.first_new_id:
                counts.duplicates += 1  # inserted earlier in this same file
            else:
                counts.updated += 1
            row = {"dataset": self.dataset, "external_id": record.key, **record.values}
            if self.attributes_column:
                row[self.attributes_column] = self.merge_attributes(found[1] if found else None, record.attributes)
            if self.has_updated_at:
                row["updated_at"] = now
            rows.append(row)
        self.upsert_rows(rows, ["dataset", "external_id"])

    def upsert_rows(self, rows: list[dict[str, Any]], key: list[str], table: Table | None = None) -> None:
        # Rows leave out values they must not overwrite, so group equal shapes.
        rows.sort(key=lambda r: tuple(r))
        for _shape, group in groupby(rows, key=lambda r: tuple(r)):
            upsert_rows(self.session, table if table is not None else self.table, list(group), key=key)

    def attribute_types(self) -> dict[str, str]:
        types = {name: c.stored_type for name, c in self.converters.items()}
        types.update({name: c.stored_type for name, c in self.late_converters.items()})
        return types
