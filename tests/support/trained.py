"""One trained synthetic conversion model per test run, shared by every pytest-xdist worker.

Training the 1,200-lead GA²M takes about 13 s; the ML and the stateless-scoring tests both need it, and under xdist
each worker used to train its own copy. The first worker to ask trains it and pickles it beside the workers' temporary
folders (under a file lock); the others load the pickle.
"""

from __future__ import annotations

import fcntl
import pickle
from pathlib import Path

import pytest

from leadscore.ml import TrainingConfig, train_conversion_model
from leadscore.ml.synthetic import make_leads

# What the shared model is trained on: ``make_leads(N_LEADS, mean_interactions=MEAN_INTERACTIONS, seed=DATA_SEED)``.
N_LEADS, MEAN_INTERACTIONS, DATA_SEED = 1200, 8, 3
CONFIG = TrainingConfig(seed=1, cv_folds=3)


def synthetic_data():
    return make_leads(N_LEADS, mean_interactions=MEAN_INTERACTIONS, seed=DATA_SEED)


def _train():
    leads, ix, y, closed = synthetic_data()
    return train_conversion_model(leads, y, ix, closed_at=closed, config=CONFIG)


def shared_model(tmp_path_factory: pytest.TempPathFactory, worker_id: str):
    """The model trained on ``synthetic_data()`` with ``CONFIG``: trained once per run, loaded by the other workers."""
    if worker_id == "master":  # not under xdist: nobody to share with
        return _train()
    # getbasetemp() is this worker's folder; its parent is common to every worker of this run.
    path = Path(tmp_path_factory.getbasetemp()).parent / "shared-conversion-model.pickle"
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return pickle.loads(path.read_bytes())
        model = _train()
        partial = path.with_suffix(".partial")
        partial.write_bytes(pickle.dumps(model))
        partial.replace(path)  # whole or absent, should a worker die mid-write
        return model
