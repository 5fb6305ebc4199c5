"""Whole-file checks and row streaming (no database involved)."""

from __future__ import annotations

import codecs

import pytest

from leadscore.integrations.importers.reader import FileRefused, Row, RowProblem, open_source


def refused(path, **options) -> str:
    with pytest.raises(FileRefused) as info:
        open_source(path, **options)
    return str(info.value)


def test_bad_byte_is_located_by_line_and_offset(write_file):
    path = write_file("leads.csv", b"id,name\n1,Ann\n2,Ren\xe9e\n")
    message = refused(path)
    assert "not valid utf-8" in message
    assert "byte 0xe9 on line 3 (byte offset 19)" in message
    assert "--encoding" in message
    # The same bytes are fine in the encoding they were written in.
    source = open_source(path, encoding="latin-1")
    assert [r.values["name"] for r in source.rows()] == ["Ann", "Renée"]


def test_bad_byte_far_into_a_large_file_is_found_before_any_row(write_file):
    body = "".join(f"{i},name {i}\n" for i in range(200_000))
    path = write_file("big.csv", b"id,name\n" + body.encode() + b"7,\xff\n")
    assert "on line 200002" in refused(path)


def test_utf8_byte_order_mark_is_not_part_of_the_first_column(write_file):
    path = write_file("bom.csv", codecs.BOM_UTF8 + b"id,name\n1,Ann\n")
    source = open_source(path)
    assert source.columns == ["id", "name"]


def test_utf16_is_recognised(write_file):
    path = write_file("u16.csv", "id,name\n1,Ann\n".encode("utf-16"))
    assert "UTF-16" in refused(path)
    assert open_source(path, encoding="utf-16").columns == ["id", "name"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"id,name\n", "has a header but no data rows"),
        (b"\n\n1,2\n", "line 1 is blank"),
        (b"id;name;email\n1;a;b\n", "looks like a ';'-delimited file; pass --delimiter ';'"),
        (b"id\tname\n1\ta\n", "looks like a '\\t'-delimited file; pass --delimiter '\\t'"),
        (b"id,name,id\n1,2,3\n", "column 'id' appears twice in the header (columns 1 and 3)"),
        (b"id,,name\n1,2,3\n", "column 2 of the header has no name"),
    ],
)
def test_unusable_csv_files_are_refused(write_file, content, expected):
    assert expected in refused(write_file("file.csv", content))


def test_missing_file_and_unsupported_formats(tmp_path, write_file):
    assert "no such file" in refused(tmp_path / "nope.csv")
    assert ".xlsx files are not supported" in refused(write_file("book.xlsx", b"PK..."))
    assert "is not a known encoding" in refused(write_file("a.csv", b"id\n1\n"), encoding="klingon")


def test_json_lines_first_line_must_be_an_object(write_file):
    assert "line 1 is a JSON list, not an object" in refused(write_file("a.jsonl", b'[{"id": 1}]\n'))
    assert "pass --format csv" in refused(write_file("b.jsonl", b"id,name\n1,a\n"))
    assert "only blank lines" in refused(write_file("c.jsonl", b"\n\n"))


def test_rows_carry_their_line_numbers_and_problems(write_file):
    path = write_file(
        "rows.csv",
        b'id,notes,price\r\n1,"two\r\nlines",5\r\n\r\n2,short\r\n3,  padded  ,NULL\r\n4,x,Select\r\n',
    )
    items = list(open_source(path, na_values=["Select"]).rows())
    assert items[0] == Row(2, {"id": "1", "notes": "two\r\nlines", "price": "5"})
    assert isinstance(items[1], RowProblem) and items[1].line == 5
    assert items[1].reason == "expected 3 fields, found 2"
    assert items[2] == Row(6, {"id": "3", "notes": "padded", "price": None})
    assert items[3] == Row(7, {"id": "4", "notes": "x", "price": None})


def test_json_lines_rows(write_file):
    path = write_file("a.jsonl", b'{"id": 1, "tags": ["a"]}\n\n"text"\n{bad\n{"id": "2", "name": " Bo "}\n')
    source = open_source(path)
    assert source.format == "jsonl" and source.columns == ["id", "tags", "name"]
    items = list(source.rows())
    assert items[0] == Row(1, {"id": 1, "tags": ["a"]})
    assert (items[1].line, items[1].reason) == (3, "expected a JSON object, found str")
    assert items[2].line == 4 and items[2].reason.startswith("not valid JSON")
    assert items[3] == Row(5, {"id": "2", "name": "Bo"})


def test_fingerprint_and_line_count(write_file):
    import hashlib

    content = b"id,name\n1,a\n2,b"
    source = open_source(write_file("f.csv", content))
    assert source.sha256 == hashlib.sha256(content).hexdigest()
    assert source.lines == 3 and source.sample_is_complete
