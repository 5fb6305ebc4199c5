"""Import every domain's tables so ``Base.metadata`` knows them all.

Alembic's env and the test fixtures import this module; application code
imports the domain modules it needs directly.
"""

from leadscore.agents.models import Agent
from leadscore.core.audit import AuditEntry
from leadscore.core.database import Base
from leadscore.core.idempotency import IdempotentRequest
from leadscore.core.outbox import OutboxMessage
from leadscore.core.scheduler_models import ScheduledRun
from leadscore.core.security.models import ApiKey, ApiKeyUsage
from leadscore.enrichment.models import Property
from leadscore.insights.models import LeadPrediction
from leadscore.integrations.models import AttributeColumn, BulkJob, ImportRun
from leadscore.interactions.models import Interaction
from leadscore.leads.models import Lead, Outcome
from leadscore.registry.models import DriftEvent, ModelVersion, TrainingJob
from leadscore.routing.models import Assignment
from leadscore.scoring.models import Score
from leadscore.web.models import SavedView, User, WebSession
from leadscore.webhooks.models import WebhookDelivery, WebhookEvent, WebhookSubscription

metadata = Base.metadata

__all__ = [
    "Agent",
    "ApiKey",
    "ApiKeyUsage",
    "Assignment",
    "AttributeColumn",
    "AuditEntry",
    "BulkJob",
    "DriftEvent",
    "IdempotentRequest",
    "ImportRun",
    "Interaction",
    "Lead",
    "LeadPrediction",
    "ModelVersion",
    "OutboxMessage",
    "Outcome",
    "Property",
    "SavedView",
    "ScheduledRun",
    "Score",
    "TrainingJob",
    "User",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
    "WebSession",
    "metadata",
]
