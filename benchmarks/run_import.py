"""Benchmark `leadscore import leads` on a generated 1,000,000-row CSV.

    python benchmarks/run_import.py [--rows N] [--keep DIR]

Imports into a fresh SQLite database (and into a fresh PostgreSQL database
when LEADSCORE_TEST_DATABASE_URL is set), each in its own process so its
peak RSS is its own, and compares with baselines measured in the same run
on the same file: a plain ``csv.reader`` pass (speed) and
``pandas.read_csv`` (peak memory of loading the file whole). Writes the
"## Import" section of benchmarks/RESULTS.md, leaving other sections alone.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.results import RESULTS, cpu_model, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Import"
SOURCES = ("website", "zillow", "referral", "open_house", "facebook", "google")
COMMAND = [
    "leads", "--dataset", "bench", "--id", "lead_id", "--created-at", "created", "--map", "price_max=budget",
    "--target", "converted", "--positive", "yes",
]  # fmt: skip

IMPORT_SCRIPT = """
import resource, sys, time
from leadscore.integrations.cli import import_app
start = time.perf_counter()
code = 0
try:
    import_app(sys.argv[1:], prog_name="leadscore import")
except SystemExit as exit:
    code = exit.code
print("RESULT", time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, code)
"""
BASELINE_IMPORTS = "import resource, sys, time\nimport leadscore.integrations.cli\n"
CSV_SCRIPT = BASELINE_IMPORTS + """
import csv
start = time.perf_counter()
with open(sys.argv[1], newline="", encoding="utf-8") as handle:
    rows = sum(1 for _ in csv.reader(handle)) - 1
print("RESULT", time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, rows)
"""
PANDAS_SCRIPT = BASELINE_IMPORTS + """
import pandas
start = time.perf_counter()
frame = pandas.read_csv(sys.argv[1])
print("RESULT", time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, len(frame))
"""


def generate(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["lead_id", "first_name", "last_name", "email", "phone", "source", "created", "postcode",
                         "budget", "bedrooms", "converted", "visits", "score", "newsletter", "notes"])  # fmt: skip
        for i in range(rows):
            writer.writerow(
                [
                    f"L{i:08d}", f"First{i % 977}", f"Last{i % 1013}", f"user{i}@example.com", f"+1206555{i % 10000:04d}",
                    SOURCES[i % 6], f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00",
                    f"{98000 + i % 200:05d}", 250000 + (i * 37) % 900000, 1 + i % 5, "yes" if i % 5 == 0 else "no",
                    i % 40, (i * 7919 % 1000) / 1000, "yes" if i % 3 else "no", "call after 5pm" if i % 7 == 0 else "",
                ]
            )  # fmt: skip


def run_script(script: str, args: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run a measurement in a fresh interpreter: (seconds, peak RSS bytes, last field)."""
    completed = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT")]
    if not lines:
        raise SystemExit(f"measurement failed:\n{completed.stdout}\n{completed.stderr}")
    _, seconds, peak_kb, last = lines[-1].split()
    return float(seconds), int(peak_kb) * 1024, last




def database_urls(folder: Path) -> list[tuple[str, str, str | None]]:
    urls = [("SQLite", f"sqlite:///{folder / 'bench.db'}", None)]
    if os.environ.get("LEADSCORE_TEST_DATABASE_URL"):
        sys.path.insert(0, str(ROOT))
        from tests.support import databases

        url = databases.create_postgres_database("leadscore_bench")
        urls.append(("PostgreSQL", url, url))
    return urls




def mb(value: float) -> str:
    return f"{value / 2**20:,.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep the files.")
    options = parser.parse_args()
    folder = options.keep or Path(tempfile.mkdtemp(prefix="leadscore-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    load_at_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    path = folder / "leads.csv"
    print(f"generating {options.rows:,} rows into {path} ...", flush=True)
    generate(path, options.rows)
    size = path.stat().st_size

    csv_seconds, csv_peak, csv_rows = run_script(CSV_SCRIPT, [str(path)])
    pandas_seconds, pandas_peak, _ = run_script(PANDAS_SCRIPT, [str(path)])
    print(f"csv.reader pass: {csv_seconds:.1f} s; pandas.read_csv peak RSS {mb(pandas_peak)}", flush=True)

    rows = []
    for name, url, cleanup in database_urls(folder):
        print(f"importing into {name} ...", flush=True)
        env = {"LEADSCORE_DATABASE_URL": url, "LEADSCORE_HOME": str(folder / f"home-{name.lower()}")}
        try:
            seconds, peak, code = run_script(IMPORT_SCRIPT, [COMMAND[0], str(path), *COMMAND[1:]], env)
        finally:
            if cleanup:
                from tests.support import databases

                databases.drop_postgres_database(cleanup)
        if code != "0":
            raise SystemExit(f"import into {name} exited {code}")
        rows.append((name, seconds, peak))
        print(f"  {options.rows / seconds:,.0f} rows/s, peak RSS {mb(peak)}", flush=True)

    today = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        SECTION,
        "",
        f"`python benchmarks/run_import.py` on {today}: {cpu_model()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load average {load_at_start:.1f} at the start (other work on the machine slows "
        f"every figure, baselines included). File: {options.rows:,} generated leads, 15 columns, {mb(size)}; command "
        f"`leadscore import {' '.join(COMMAND[:1])} FILE {' '.join(COMMAND[1:])}` (outcomes and 7 typed attributes "
        "per lead; one transaction per 2,000 rows). Baselines were measured in the same run on the same file, each in "
        "a fresh process that first imports leadscore's CLI (same libraries loaded).",
        "",
        "| target | time | rows/s | vs csv.reader pass | peak RSS | vs pandas.read_csv peak |",
        "|---|---|---|---|---|---|",
        f"| baseline: csv.reader pass | {csv_seconds:.1f} s | {int(csv_rows) / csv_seconds:,.0f} | 1.0x | {mb(csv_peak)} | |",
        f"| baseline: pandas.read_csv | {pandas_seconds:.1f} s | {options.rows / pandas_seconds:,.0f} | | {mb(pandas_peak)} | 1.00 |",
    ]
    for name, seconds, peak in rows:
        lines.append(
            f"| import into {name} | {seconds:.1f} s | {options.rows / seconds:,.0f} | "
            f"{seconds / csv_seconds:.1f}x slower | {mb(peak)} | {peak / pandas_peak:.2f} |"
        )
    lines += [
        "",
        "Peak RSS includes the interpreter and every library the CLI loads; the import streams, so it does not grow "
        "with the file (see tests/integrations/test_streaming.py), while pandas holds the whole file in memory.",
        "",
    ]
    write_section(SECTION, "\n".join(lines))
    print(f"wrote the {SECTION!r} section of {RESULTS}")


if __name__ == "__main__":
    main()
