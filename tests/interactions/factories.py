from __future__ import annotations

from datetime import UTC, datetime

import factory

from leadscore.interactions.models import Interaction
from tests.leads.factories import LeadFactory
from tests.support.factories import BaseFactory


class InteractionFactory(BaseFactory):
    class Meta:
        model = Interaction

    lead_id = factory.LazyAttribute(lambda o: LeadFactory().id)
    type = "listing_view"
    occurred_at = factory.LazyFunction(lambda: datetime(2026, 1, 20, 18, 0, tzinfo=UTC))
    channel = "web"
    direction = "inbound"
