"""Shared fixtures for the ML tests: small synthetic data, one trained model per run (``synthetic_model``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.support.trained import synthetic_data

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data():
    return synthetic_data()


@pytest.fixture(scope="session")
def model(synthetic_model):
    """Trained on ``data``."""
    return synthetic_model


@pytest.fixture()
def rng():
    return np.random.default_rng(0)


def assert_same(a, b):
    """Arrays equal, NaN == NaN, bit for bit."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    both_nan = np.isnan(a) & np.isnan(b)
    mismatch = ~both_nan & (a != b)
    assert not mismatch.any(), f"{mismatch.sum()} values differ, first at {np.argwhere(mismatch)[:5].tolist()}"


AS_OF = pd.Timestamp("2024-10-01")
