"""index interactions by (dataset, inserted_at, lead_id): the leads an import touched

Revision ID: 0004
Revises: 0003

Rescoring after an import finds the leads whose interactions arrived since the import began,
once per step of 1,000 leads; without this index each step read the whole interactions table.
"""

from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('interactions') as batch:
        batch.create_index(batch.f('ix_interactions_dataset_inserted_at_lead_id'),
                           ['dataset', 'inserted_at', 'lead_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('interactions') as batch:
        batch.drop_index(batch.f('ix_interactions_dataset_inserted_at_lead_id'))
