"""Times on the dashboard in the installation's time zone (``LEADSCORE_TIMEZONE``; stored times are UTC).

Why: an agent reading "best time to contact 18:00-19:00" acts on it as local time; in UTC that
was 10 a.m. in Seattle. Templates get the zone as ``zone`` and format with the ``local`` and
``local_hour`` filters, which label what they show with the zone's abbreviation.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import pass_context


@lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    return ZoneInfo(name)  # validated when the settings were loaded


def zone_of(request: Any) -> tzinfo:
    runtime = getattr(getattr(request.app, "state", None), "runtime", None)
    name = getattr(getattr(runtime, "settings", None), "timezone", "UTC")
    return _zone(name)


def _localise(value: datetime, zone: tzinfo) -> datetime:
    # Stored times are UTC; SQLite gives them back without a zone.
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(zone)


@pass_context
def local_time(context: Any, value: datetime | None, fmt: str = "%Y-%m-%d %H:%M", label: bool = True) -> str:
    """``value`` in the page's zone, with the zone's abbreviation unless ``label`` is false; '' for None."""
    if value is None:
        return ""
    local = _localise(value, context.get("zone") or UTC)
    return f"{local.strftime(fmt)} {local.tzname()}" if label else local.strftime(fmt)


@pass_context
def local_hour(context: Any, hour: int, on: date | None = None) -> str:
    """The UTC hour ``hour`` (0-23) as a local one-hour slot on ``on`` (default today), e.g. '10:00–11:00 PST'."""
    zone = context.get("zone") or UTC
    start = _localise(datetime.combine(on or datetime.now(UTC).date(), time(int(hour) % 24), UTC), zone)
    return f"{start:%H}:{start:%M}–{(start.hour + 1) % 24:02d}:{start:%M} {start.tzname()}"
