"""leadscore: open, explainable lead scoring."""

__version__ = "0.1.0"
