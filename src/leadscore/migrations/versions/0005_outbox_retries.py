"""outbox rows for failed work: retried later with backoff, then parked

Revision ID: 0005
Revises: 0004

A handler that fails is not requeued at once (a poison message kept a RabbitMQ worker
busy forever) nor dropped (the in-process queue lost it): its work becomes a new outbox
row, dispatched no earlier than ``available_at``; after the last retry it is parked
(``failed_at``) until an admin replays it (``leadscore tasks retry``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('retry', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('available_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('failed_at')
        batch.drop_column('available_at')
        batch.drop_column('retry')
