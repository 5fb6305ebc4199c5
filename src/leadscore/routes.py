"""Every domain's API router, mounted under /v1 by ``create_app``.

Add one line per domain router; keep the list sorted.
"""

from __future__ import annotations

from fastapi import APIRouter


def domain_routers() -> list[APIRouter]:
    routers: list[APIRouter] = []
    return routers
