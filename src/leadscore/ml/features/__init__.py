"""Feature engineering: one definition for batch training and online scoring."""

from .builder import FeatureBuilder
from .schema import DEFAULT_NA_VALUES, FeatureSpec

__all__ = ["DEFAULT_NA_VALUES", "FeatureBuilder", "FeatureSpec"]
