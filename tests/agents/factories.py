from __future__ import annotations

import factory

from leadscore.agents.models import Agent
from tests.support.factories import BaseFactory


class AgentFactory(BaseFactory):
    class Meta:
        model = Agent

    dataset = "default"
    external_id = factory.Sequence(lambda n: f"agent-{n}")
    name = factory.Faker("name")
    email = factory.Faker("email")
    territories = factory.LazyFunction(lambda: ["98103"])
    specialties = factory.LazyFunction(lambda: ["buy"])
    languages = factory.LazyFunction(lambda: ["en"])
    capacity = 40
