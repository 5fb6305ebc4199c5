"""sealed webhook secrets: room for the encrypted form (core.sealed)

Revision ID: 0003
Revises: 0002

Existing secrets stay readable as they are (clear text) and are sealed by the next
start of `leadscore serve` / `leadscore worker` (webhooks.service.seal_clear_secrets).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_subscriptions') as batch:
        batch.alter_column('secret', existing_type=sa.String(length=100), type_=sa.String(length=255),
                           existing_nullable=False)
        batch.alter_column('previous_secret', existing_type=sa.String(length=100), type_=sa.String(length=255),
                           existing_nullable=True)


def downgrade() -> None:
    # Sealed values do not fit the old width: a downgrade keeps the wider columns' content only if
    # it was clear text. Refuse rather than truncate secrets.
    connection = op.get_bind()
    sealed = connection.execute(sa.text(
        "SELECT count(*) FROM webhook_subscriptions WHERE secret LIKE 'fernet:%' OR previous_secret LIKE 'fernet:%'"
    )).scalar()
    if sealed:
        raise RuntimeError(f"{sealed} webhook subscription(s) hold sealed secrets longer than the old columns; "
                           "delete or recreate them before downgrading")
    with op.batch_alter_table('webhook_subscriptions') as batch:
        batch.alter_column('secret', existing_type=sa.String(length=255), type_=sa.String(length=100),
                           existing_nullable=False)
        batch.alter_column('previous_secret', existing_type=sa.String(length=255), type_=sa.String(length=100),
                           existing_nullable=True)
