from __future__ import annotations

from datetime import date

import pytest

from leadscore.demo.world import World, build_world

END = date(2025, 6, 30)


@pytest.fixture(scope="session")
def small_world() -> World:
    return build_world(1_500, seed=11, end=END)


@pytest.fixture(scope="session")
def big_world() -> World:
    """Large enough for statistical checks of the mechanism (about 2 s to build)."""
    return build_world(20_000, seed=5, end=END)
