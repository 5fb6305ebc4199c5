"""Helpers for import tests: files on disk, the command runner, row counts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from leadscore.core.config import Settings
from leadscore.core.database import make_engine
from leadscore.integrations.cli import import_app


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[..., Path]:
    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, str):
            content = content.encode("utf-8")
        path.write_bytes(content)
        return path

    return write


@pytest.fixture
def run_import(cli_env: dict[str, str]) -> Callable[..., Result]:
    """Run `leadscore import ...` against the test's fresh database."""
    runner = CliRunner()

    def invoke(*args: object) -> Result:
        return runner.invoke(import_app, [str(a) for a in args], env=cli_env)

    return invoke


@pytest.fixture
def count_rows(fresh_database: Settings) -> Callable[..., int]:
    """Count rows of a model in the fresh database (0 when its tables do not exist yet)."""
    engine = make_engine(fresh_database)

    def count(model: type, *where: object) -> int:
        from sqlalchemy import inspect

        if model.__tablename__ not in inspect(engine).get_table_names():
            return 0
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(model).where(*where))

    yield count
    engine.dispose()


def report_rows(path: Path) -> list[list[str]]:
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def generate_leads(path: Path, rows: int) -> Path:
    """A realistic leads CSV of any size (deterministic), for streaming tests."""
    import csv

    sources = ("website", "zillow", "referral", "open_house", "facebook", "google")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["lead_id", "first_name", "email", "source", "created", "postcode", "budget", "converted", "visits", "score", "notes"]
        )
        for i in range(rows):
            writer.writerow(
                [
                    f"L{i:08d}", f"First{i % 977}", f"user{i}@example.com", sources[i % 6],
                    f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00", f"{98000 + i % 200:05d}",
                    250000 + (i * 37) % 900000, "yes" if i % 5 == 0 else "no", i % 40, (i % 1000) / 1000,
                    "call after 5pm" if i % 7 == 0 else "",
                ]
            )  # fmt: skip
    return path
