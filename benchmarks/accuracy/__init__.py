"""Accuracy benchmark: the leadscore pipeline versus baselines on the shared datasets."""
