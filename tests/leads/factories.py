from __future__ import annotations

from datetime import UTC, datetime

import factory

from leadscore.leads.models import Lead, Outcome
from tests.support.factories import BaseFactory


class LeadFactory(BaseFactory):
    class Meta:
        model = Lead

    dataset = "default"
    external_id = factory.Sequence(lambda n: f"lead-{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Faker("email")
    source = "website"
    channel = "web"
    created_at = factory.LazyFunction(lambda: datetime(2026, 1, 15, 9, 30, tzinfo=UTC))
    intent = "buy"
    price_min = 400_000.0
    price_max = 650_000.0
    bedrooms = 3
    postcode = "98103"
    consent_email = True


class OutcomeFactory(BaseFactory):
    class Meta:
        model = Outcome

    lead_id = factory.LazyAttribute(lambda o: LeadFactory().id)
    result = "won"
    closed_at = factory.LazyFunction(lambda: datetime(2026, 3, 1, tzinfo=UTC))
    deal_value = 12_500.0
