"""Build the demo dataset into a session: the callable the CLI (and later commands) use."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from leadscore.demo.world import World, build_world
from leadscore.demo.writer import write_world


@dataclass
class DemoResult:
    world: World
    counts: dict[str, int]
    generate_seconds: float
    write_seconds: float
    summary: dict[str, object] = field(default_factory=dict)


def summarise(world: World) -> dict[str, object]:
    truth = world.truth
    won = int((truth["outcome"] == "won").sum())
    lost = int((truth["outcome"] == "lost").sum())
    open_ = int((truth["outcome"] == "open").sum())
    return {
        "won": won,
        "lost": lost,
        "open": open_,
        "conversion_rate": won / (won + lost) if won + lost else 0.0,
        "deal_value": float(world.outcomes["deal_value"].sum()),
        "first_lead": world.leads["created_at"].min(),
        "last_lead": world.leads["created_at"].max(),
        "end": world.end,
    }


def build_demo(
    session: Session,
    *,
    n_leads: int,
    seed: int = 7,
    end: date | None = None,
    on_world: Callable[[World], None] | None = None,
    generate_progress: Callable[[str], None] | None = None,
    write_progress: Callable[[str, int], None] | None = None,
) -> DemoResult:
    """Generate the world and replace the "demo" dataset with it; the caller commits.

    ``on_world`` runs after generation and before anything is written (the CLI
    uses it to set up progress and to write the truth export).
    """
    started = time.perf_counter()
    world = build_world(n_leads, seed=seed, end=end, progress=generate_progress)
    generated = time.perf_counter()
    if on_world is not None:
        on_world(world)
    before_write = time.perf_counter()
    counts = write_world(session, world, progress=write_progress)
    return DemoResult(
        world=world,
        counts=counts,
        generate_seconds=generated - started,
        write_seconds=time.perf_counter() - before_write,
        summary=summarise(world),
    )
