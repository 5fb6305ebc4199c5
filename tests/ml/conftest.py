"""Shared fixtures for the ML tests: small synthetic data, one trained model per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.ml import TrainingConfig, train_conversion_model
from leadscore.ml.synthetic import make_leads

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data():
    return make_leads(1200, mean_interactions=8, seed=3)


@pytest.fixture(scope="session")
def model(data):
    leads, ix, y, closed = data
    return train_conversion_model(leads, y, ix, closed_at=closed, config=TrainingConfig(seed=1, cv_folds=3))


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
