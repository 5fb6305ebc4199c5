"""What a trained model records about how it was made: the data it saw (a fingerprint, the
time window, row counts), the configuration, the library versions and the leakage report.
Stored with every registered version, so a model can be traced and its training repeated."""

from __future__ import annotations

import hashlib
import platform
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from .features.schema import CREATED_AT


def data_fingerprint(leads, interactions, y) -> str:
    """SHA-256 of the leads, the outcomes and the interactions, row by row."""
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(leads, index=False).to_numpy().tobytes())
    h.update(np.asarray(y, dtype=np.int64).tobytes())
    if interactions is not None:
        h.update(pd.util.hash_pandas_object(interactions, index=False).to_numpy().tobytes())
    return h.hexdigest()


def training_metadata(leads, interactions, y, at, cfg: Any, guard: Any) -> dict:
    """The metadata ``train_conversion_model`` returns with its model (``at``: each lead's as-of time)."""
    import lightgbm
    import sklearn

    from .. import __version__

    window = {}
    if CREATED_AT in leads and leads[CREATED_AT].notna().any():
        window = {"created_from": str(pd.Timestamp(leads[CREATED_AT].min())),
                  "created_to": str(pd.Timestamp(leads[CREATED_AT].max()))}
    window["as_of_from"] = str(pd.Timestamp(int(at.min())))
    window["as_of_to"] = str(pd.Timestamp(int(at.max())))
    cfg_dict = asdict(cfg)
    return {
        "trained_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg_dict.items()},
        "library_versions": {"python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__,
                             "scikit-learn": sklearn.__version__, "lightgbm": lightgbm.__version__,
                             "leadscore": __version__},
        "data_fingerprint": data_fingerprint(leads, interactions, y),
        "data_window": window,
        "row_counts": {"leads": int(len(leads)), "interactions": 0 if interactions is None else int(len(interactions)),
                       "converted": int(np.sum(y)), "not_converted": int(len(y) - np.sum(y))},
        "leakage": guard.report(),
    }
