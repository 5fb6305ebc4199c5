"""Every domain's API router, mounted under /v1 by ``create_app``.

Add one line per domain router; keep the list sorted.
"""

from __future__ import annotations

from fastapi import APIRouter

from leadscore.core.security import api as keys_api
from leadscore.webhooks import api as webhooks_api


def domain_routers() -> list[APIRouter]:
    routers: list[APIRouter] = []
    routers.append(keys_api.router)  # /v1/keys
    routers.append(webhooks_api.router)  # /v1/webhooks
    return routers
