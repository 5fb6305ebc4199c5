"""Serve benchmarks/trivial_app.py exactly as `leadscore serve` serves the API (its event loop and, with
several workers, a listening socket per worker): ``python benchmarks/serve_trivial.py PORT WORKERS``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # spawned workers inherit it

from leadscore.core.config import Settings  # noqa: E402
from leadscore.core.serve_cli import run_uvicorn  # noqa: E402

if __name__ == "__main__":
    run_uvicorn("trivial_app:app", host="127.0.0.1", port=int(sys.argv[1]), workers=int(sys.argv[2]),
                log_level="warning", keep_alive=Settings.model_fields["keep_alive_seconds"].default)
