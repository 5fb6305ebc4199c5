from __future__ import annotations

import factory

from leadscore.registry.models import ModelVersion
from tests.support.factories import BaseFactory


class ModelVersionFactory(BaseFactory):
    class Meta:
        model = ModelVersion

    kind = "conversion"
    dataset = "default"
    version = factory.Sequence(lambda n: n + 1)
    state = "candidate"
    algorithm = "lightgbm"
    artifact = b"not-a-model"
    metrics = factory.LazyFunction(lambda: {"roc_auc": 0.8})
