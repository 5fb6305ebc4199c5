"""Shared parameter types for routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

# Ids are 32-bit integers in the database; anything larger is a client error, not a 500.
MAX_ID = 2**31 - 1

LeadId = Annotated[int, Path(ge=1, le=MAX_ID, description="The lead's id.")]
