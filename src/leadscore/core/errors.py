"""The base of every error caused by input or state the user can fix.

The CLI prints these as one line (exit code 2) and the API turns them into
problem+json responses; anything else is a bug and keeps its traceback.
"""


class LeadscoreError(Exception):
    """An expected, explainable failure: bad input, missing data, a refused operation."""
