"""What the registry stores for a version: the model plus its drift reference."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Artifact:
    """Pickled into ``model_versions.artifact``.

    ``drift`` is a fitted ``ml.drift.DriftMonitor`` on the training features
    and scores, so drift checks compare new data with what the model saw.
    """

    model: Any
    drift: Any = None
    extras: dict[str, Any] = field(default_factory=dict)
