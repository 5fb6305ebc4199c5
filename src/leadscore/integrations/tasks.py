"""Background work of the integrations domain: bulk jobs (``bulk.run``) and their recovery sweep."""

from __future__ import annotations

from leadscore.integrations.jobs import periodic_job, register

__all__ = ["periodic_job", "register"]
