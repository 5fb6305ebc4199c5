"""The demo world: a deterministic synthetic brokerage with a known, hidden conversion mechanism.

See ``docs/demo-world.md``. Entry points: ``build_demo`` (generate and store in
a session), ``build_world`` (in memory only), ``write_truth`` (evaluation export).
"""

from leadscore.demo.service import DemoResult, build_demo
from leadscore.demo.truth import write_truth
from leadscore.demo.world import DATASET, World, build_world

__all__ = ["DATASET", "DemoResult", "World", "build_demo", "build_world", "write_truth"]
