"""initial schema

Revision ID: 0001
Revises: 
"""

from __future__ import annotations

from leadscore.migrations.initial_schema import leads, models, people, platform, webhooks

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


# Parents before children (foreign keys); dropped in reverse.
PARTS = (platform, people, leads, models, webhooks)


def upgrade() -> None:
    for part in PARTS:
        part.create()


def downgrade() -> None:
    for part in reversed(PARTS):
        part.drop()
