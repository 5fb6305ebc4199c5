"""Every domain's API router, mounted under /v1 by ``create_app``.

Add one line per domain router; keep the list sorted, except that the
scoring router comes first: routes are matched in order, and its score
lookup is by far the most called endpoint.
"""

from __future__ import annotations

from fastapi import APIRouter

from leadscore.core.security import api as keys_api
from leadscore.integrations import api as integrations_api
from leadscore.interactions import api as interactions_api
from leadscore.leads import api as leads_api
from leadscore.registry import api as registry_api
from leadscore.scoring import api as scoring_api
from leadscore.webhooks import api as webhooks_api


def domain_routers() -> list[APIRouter]:
    routers: list[APIRouter] = [scoring_api.router]  # /v1/leads/{id}/score, /v1/score (hottest first)
    routers.append(integrations_api.router)  # /v1/bulk
    routers.append(interactions_api.router)  # /v1/interactions
    routers.append(keys_api.router)  # /v1/keys
    routers.append(leads_api.router)  # /v1/leads
    routers.append(registry_api.router)  # /v1/models
    routers.append(webhooks_api.router)  # /v1/webhooks
    return routers
