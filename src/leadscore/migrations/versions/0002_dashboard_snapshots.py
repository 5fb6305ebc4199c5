"""dashboard snapshots: precomputed statistics for the behaviour and admin pages

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('dashboard_snapshots',
    sa.Column('dataset', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('fingerprint', JSON, nullable=False),
    sa.Column('data', JSON, nullable=False),
    sa.PrimaryKeyConstraint('dataset', 'kind', name=op.f('pk_dashboard_snapshots'))
    )


def downgrade() -> None:
    op.drop_table('dashboard_snapshots')
