"""A large file imports in bounded memory: peak RSS does not grow with the file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from tests.integrations.conftest import generate_leads

SCRIPT = """
import resource, sys
from leadscore.integrations.cli import import_app
code = 0
try:
    import_app(sys.argv[1:], prog_name="leadscore import")
except SystemExit as exit:
    code = exit.code
print("PEAK_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "EXIT", code)
"""


def import_in_subprocess(tmp_path, rows: int) -> tuple[int, int]:
    """Import a generated file in a fresh process; return (peak RSS in bytes, rows stored)."""
    folder = tmp_path / str(rows)
    folder.mkdir()
    path = generate_leads(folder / "leads.csv", rows)
    database = folder / "leadscore.db"
    env = {**os.environ, "LEADSCORE_DATABASE_URL": f"sqlite:///{database}", "LEADSCORE_HOME": str(folder / "home")}
    args = ["leads", str(path), "--id", "lead_id", "--created-at", "created", "--map", "price_max=budget",
            "--target", "converted", "--positive", "yes"]  # fmt: skip
    completed = subprocess.run([sys.executable, "-c", SCRIPT, *args], env=env, capture_output=True, text=True, timeout=600)
    last = completed.stdout.strip().splitlines()[-1].split()
    assert last[0] == "PEAK_KB" and last[3] == "0", completed.stdout + completed.stderr
    with sqlite3.connect(database) as connection:
        stored = connection.execute("SELECT count(*) FROM leads").fetchone()[0]
    return int(last[1]) * 1024, stored


@pytest.mark.slow
def test_memory_stays_flat_as_the_file_grows(tmp_path):
    small_peak, small_rows = import_in_subprocess(tmp_path, 20_000)
    large_peak, large_rows = import_in_subprocess(tmp_path, 200_000)
    assert (small_rows, large_rows) == (20_000, 200_000)
    size_growth = (tmp_path / "200000" / "leads.csv").stat().st_size - (tmp_path / "20000" / "leads.csv").stat().st_size
    # Ten times the rows (about 20 MB more file): holding rows would add hundreds of MB.
    print(f"peak RSS {small_peak / 2**20:.0f} MB -> {large_peak / 2**20:.0f} MB, file +{size_growth / 2**20:.0f} MB")
    assert large_peak - small_peak < min(20 * 2**20, size_growth), (small_peak, large_peak, size_growth)
