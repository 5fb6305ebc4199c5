"""Open an import file, check it as a whole, then stream its rows.

Everything that can make a file unusable as a whole (missing, empty, wrong
encoding, no header, wrong delimiter, not JSON Lines) is found here, before
the first write, and raised as ``FileRefused``. Row-level trouble (wrong
field count, a line that is not JSON) is yielded as a ``RowProblem`` so the
import can skip that row and carry on.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from leadscore.core.cli import UserError

# Rows read up front to infer attribute types and date formats.
SAMPLE_ROWS = 10_000
# Always treated as missing; ``--na-values`` adds to these. "NA" is left out
# on purpose: it is a real value too often (Namibia, North America).
DEFAULT_NA_VALUES = ("", "NaN", "nan", "NULL", "null", "N/A", "n/a", "#N/A")
CHUNK_BYTES = 1 << 20
FORMATS = ("csv", "jsonl")
SUFFIX_FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
# Delimiters we recognise when a header comes out as a single column.
OTHER_DELIMITERS = (";", "\t", "|", ",")


class FileRefused(UserError):
    """The file cannot be imported at all; nothing has been written."""


@dataclass(frozen=True)
class RowProblem:
    """One reason a row was rejected, as written to the error report."""

    line: int
    column: str
    value: Any
    reason: str


@dataclass(frozen=True)
class Row:
    line: int
    # Column name -> value; None for empty and NA values. Strings for CSV,
    # JSON values (strings stripped) for JSON Lines.
    values: dict[str, Any]


def delimiter_name(delimiter: str) -> str:
    return {"\t": "\\t"}.get(delimiter, delimiter)


def parse_delimiter(text: str) -> str:
    named = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    value = named.get(text.lower(), text)
    if len(value) != 1 or value in ('"', "\n", "\r"):
        raise FileRefused(f"--delimiter must be a single character (or 'tab'), not {text!r}")
    return value


@dataclass
class Source:
    """A checked file: its format, columns, fingerprint and a row iterator."""

    path: Path
    format: str
    encoding: str
    delimiter: str
    na_values: frozenset[str]
    columns: list[str] = field(default_factory=list)
    sha256: str = ""
    size: int = 0
    lines: int = 0
    has_nul: bool = False
    sample: list[Row] = field(default_factory=list)
    # True when the sample holds every row of the file.
    sample_is_complete: bool = False

    def rows(self) -> Iterator[Row | RowProblem]:
        if self.format == "jsonl":
            return self._json_rows()
        return self._csv_rows()

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return None if value in self.na_values else value
        return value

    def _csv_rows(self) -> Iterator[Row | RowProblem]:
        width = len(self.columns)
        columns = self.columns
        na_values = self.na_values
        with self.path.open(encoding=self.encoding, newline="") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            next(reader)  # the header, checked when the source was opened
            last = reader.line_num
            while True:
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    # The reader resynchronises on the next line; this record is lost.
                    yield RowProblem(last + 1, "", "", f"unreadable CSV record: {exc}")
                    last = reader.line_num
                    continue
                line, last = last + 1, reader.line_num
                if not fields:
                    continue  # blank line
                if len(fields) != width:
                    text = self.delimiter.join(fields)
                    yield RowProblem(line, "", text, f"expected {width} fields, found {len(fields)}")
                    continue
                if self.has_nul and any("\x00" in f for f in fields):
                    yield RowProblem(line, "", "", "contains a NUL character")
                    continue
                values = {}
                for name, raw in zip(columns, fields):
                    raw = raw.strip()
                    values[name] = None if raw in na_values else raw
                yield Row(line, values)

    def _json_rows(self) -> Iterator[Row | RowProblem]:
        with self.path.open(encoding=self.encoding, newline="") as handle:
            for line, text in enumerate(handle, start=1):
                text = text.strip()
                if not text:
                    continue
                try:
                    data = json.loads(text)
                except ValueError as exc:
                    reason = getattr(exc, "msg", str(exc))
                    yield RowProblem(line, "", text, f"not valid JSON ({reason})")
                    continue
                if not isinstance(data, dict):
                    yield RowProblem(line, "", text, f"expected a JSON object, found {type(data).__name__}")
                    continue
                if "\\u0000" in text:  # PostgreSQL cannot store NUL in text or JSON
                    yield RowProblem(line, "", "", "contains a NUL character")
                    continue
                yield Row(line, {str(k): self._clean(v) for k, v in data.items()})


def open_source(
    path: Path | str,
    *,
    format: str | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    na_values: tuple[str, ...] | list[str] = (),
) -> Source:
    """Check the whole file and return a Source; raise FileRefused if unusable."""
    path = Path(path)
    name = path.name
    if not path.exists():
        raise FileRefused(f"{path}: no such file")
    if not path.is_file():
        raise FileRefused(f"{path}: not a file")
    fmt = _format(path, format)
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise FileRefused(f"--encoding {encoding!r} is not a known encoding") from None
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    else:
        delimiter = parse_delimiter(delimiter)
    source = Source(
        path=path,
        format=fmt,
        encoding=codec.name,
        delimiter=delimiter,
        na_values=frozenset(DEFAULT_NA_VALUES) | {v.strip() for v in na_values},
    )
    _scan(source, name)
    if fmt == "csv":
        _check_csv_header(source, name)
    else:
        _check_json_lines(source, name)
    return source


def _format(path: Path, format: str | None) -> str:
    if format is not None:
        value = format.lower()
        if value not in FORMATS:
            raise FileRefused(f"--format must be one of {', '.join(FORMATS)}, not {format!r}")
        return value
    suffix = path.suffix.lower()
    if suffix in (".json", ".xlsx", ".xls", ".parquet", ".zip", ".gz"):
        raise FileRefused(
            f"{path.name}: {suffix} files are not supported; export CSV or JSON Lines "
            "(or pass --format if the content is CSV or JSON Lines)"
        )
    return SUFFIX_FORMATS.get(suffix, "csv")


def _scan(source: Source, name: str) -> None:
    """Stream the whole file once: fingerprint, line count, and a full decode.

    Decoding everything up front is what lets us promise that a file with a
    bad byte on line 900,000 is refused before the first row is written.
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder(source.encoding)(errors="strict")
    offset = newlines = 0
    first = b""
    last_byte = b""
    try:
        with source.path.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                if not first:
                    first = chunk[:4]
                    if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and "16" not in source.encoding:
                        raise FileRefused(f"{name} looks like UTF-16 (it starts with a UTF-16 byte-order mark); pass --encoding utf-16")
                    if source.encoding == "utf-8" and chunk.startswith(codecs.BOM_UTF8):
                        # Excel writes a byte-order mark; it is not part of the first column name.
                        source.encoding = "utf-8-sig"
                        decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
                digest.update(chunk)
                pending = len(decoder.getstate()[0])
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    position = max(0, exc.start - pending)
                    bad_offset = offset + position
                    line = newlines + chunk[:position].count(b"\n") + 1
                    bad = exc.object[exc.start : exc.start + 1]
                    raise FileRefused(
                        f"{name} is not valid {source.encoding}: byte 0x{bad.hex()} on line {line} "
                        f"(byte offset {bad_offset}) cannot be decoded; pass the file's encoding, "
                        f"e.g. --encoding cp1252 or --encoding latin-1"
                    ) from None
                if not source.has_nul and b"\x00" in chunk:
                    source.has_nul = True
                newlines += chunk.count(b"\n")
                offset += len(chunk)
                last_byte = chunk[-1:]
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise FileRefused(
                    f"{name} is not valid {source.encoding}: it ends in the middle of a character"
                ) from None
    except OSError as exc:
        raise FileRefused(f"{source.path}: cannot read ({exc.strerror or exc})") from None
    if offset == 0:
        raise FileRefused(f"{name} is empty")
    source.sha256 = digest.hexdigest()
    source.size = offset
    source.lines = newlines + (0 if last_byte == b"\n" else 1)


def _check_csv_header(source: Source, name: str) -> None:
    with source.path.open(encoding=source.encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=source.delimiter)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise FileRefused(f"{name}: the header cannot be read as CSV ({exc})") from None
        if not header or not any(h.strip() for h in header):
            raise FileRefused(f"{name}: line 1 is blank; the first line must be the header naming the columns")
        if any("\x00" in h for h in header):
            raise FileRefused(f"{name}: the header contains NUL bytes; is the file UTF-16? pass --encoding utf-16")
        columns = [h.strip() for h in header]
        if len(columns) == 1:
            for other in OTHER_DELIMITERS:
                if other != source.delimiter and other in columns[0]:
                    raise FileRefused(
                        f"{name}: the header has a single column {columns[0][:80]!r}; it looks like a "
                        f"'{delimiter_name(other)}'-delimited file; pass --delimiter '{delimiter_name(other)}'"
                    )
        for position, column in enumerate(columns, start=1):
            if not column:
                raise FileRefused(f"{name}: column {position} of the header has no name; every column needs one")
        seen: dict[str, int] = {}
        for position, column in enumerate(columns, start=1):
            if column in seen:
                raise FileRefused(
                    f"{name}: column {column!r} appears twice in the header (columns {seen[column]} and {position})"
                )
            seen[column] = position
        source.columns = columns
    source.sample = _take_sample(source)
    if not source.sample and not _has_any_row(source):
        raise FileRefused(f"{name} has a header but no data rows")


def _take_sample(source: Source) -> list[Row]:
    rows = [item for item in islice(source.rows(), SAMPLE_ROWS + 1) if isinstance(item, Row)]
    source.sample_is_complete = len(rows) <= SAMPLE_ROWS
    return rows[:SAMPLE_ROWS]


def _has_any_row(source: Source) -> bool:
    return next(iter(source.rows()), None) is not None


def _check_json_lines(source: Source, name: str) -> None:
    with source.path.open(encoding=source.encoding, newline="") as handle:
        for line, text in enumerate(handle, start=1):
            text = text.strip()
            if not text:
                continue
            try:
                first = json.loads(text)
            except ValueError:
                raise FileRefused(
                    f"{name}: line {line} is not valid JSON; JSON Lines needs one JSON object per line"
                    + (" (this looks like a CSV file: pass --format csv)" if "," in text else "")
                ) from None
            if not isinstance(first, dict):
                raise FileRefused(
                    f"{name}: line {line} is a JSON {type(first).__name__}, not an object; "
                    "JSON Lines needs one object per line (a single JSON array is not supported)"
                )
            break
        else:
            raise FileRefused(f"{name} has only blank lines")
    source.sample = _take_sample(source)
    columns: dict[str, None] = {}
    for row in source.sample:
        for key in row.values:
            columns.setdefault(key, None)
    for key in columns:
        if not key.strip():
            raise FileRefused(f"{name}: an object has an empty key; every field needs a name")
    source.columns = list(columns)
