"""indexes for a renter's conversations and licence checks, and a message's outbox row

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 08:00:00

Built CONCURRENTLY on PostgreSQL: the tables are busy and large in production, and a plain
CREATE INDEX would hold every webhook's INSERT until it is done.
"""
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

INDEXES = [
    ('ix_conversations_customer_id', 'conversations', 'customer_id'),
    ('ix_licence_checks_booking_id', 'licence_checks', 'booking_id'),
    ('ix_licence_checks_customer_id', 'licence_checks', 'customer_id'),
    ('ix_outbox_message_id', 'outbox', 'message_id'),
]


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for name, table, column in INDEXES:
            op.create_index(name, table, [column], unique=False, postgresql_concurrently=True,
                            if_not_exists=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name, table, _ in INDEXES:
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
