"""What every benchmark shares: the machine's CPU name and writing its own section of RESULTS.md."""

from __future__ import annotations

import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def write_section(heading: str, text: str, path: Path = RESULTS) -> None:
    """Replace the section that starts with ``heading`` (up to the next ``## ``), or append it."""
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    text = text.rstrip("\n") + "\n"
    start = current.find(heading + "\n")
    if start < 0:
        updated = current.rstrip("\n") + "\n\n" + text
    else:
        end = current.find("\n## ", start + len(heading))
        updated = current[:start] + text + ("" if end < 0 else "\n" + current[end + 1 :])
    path.write_text(updated, encoding="utf-8")
