"""Field types that accept exactly what the OpenAPI schema says.

Pydantic's lax mode turns ``0`` into ``False`` and ``1700000000`` into a date;
a client sending those has a bug, and the schema promises booleans and ISO
8601 strings, so these refuse anything else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Strict


def _iso_only(value: Any) -> Any:
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit()):
        raise ValueError("must be an ISO 8601 date-time string, e.g. 2026-11-20T18:42:00Z")
    return value


StrictBoolean = Annotated[bool, Strict()]
StrictInteger = Annotated[int, Strict()]
# Strict floats still take JSON integers (3 is a fine price), but not true/false.
StrictNumber = Annotated[float, Strict()]
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only)]
