"""unanswered inbound messages index

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 03:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

WHERE = sa.text("direction = 'in' AND processed_at IS NULL")


def upgrade() -> None:
    op.create_index('ix_messages_unanswered', 'messages', ['created_at'], unique=False,
                    sqlite_where=WHERE, postgresql_where=WHERE)


def downgrade() -> None:
    op.drop_index('ix_messages_unanswered', table_name='messages')
