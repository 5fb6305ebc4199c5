"""One command: `python benchmarks/run_accuracy.py` → the '## Accuracy' section of benchmarks/RESULTS.md.

`--dataset NAME` (repeatable) runs only the matching datasets and prints their table; `--help` for more.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.accuracy.run import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
