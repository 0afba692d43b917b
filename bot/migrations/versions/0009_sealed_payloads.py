"""message and outbox payloads encrypted at rest

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 08:10:00

The payloads carry the reply's text (names, booking details, what a licence says) beside
the encrypted body: they are sealed with the data key too. Existing rows are encrypted here,
a thousand at a time, so `crms-bot db upgrade` (which loads the data key) runs it.
"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

TABLES = ('messages', 'outbox')
CHUNK = 1000


def upgrade() -> None:
    from bot import crypto

    def seal(value):  # type: ignore[no-untyped-def]
        parsed = json.loads(value) if isinstance(value, (str, bytes)) else value
        return crypto.encrypt(json.dumps(parsed, ensure_ascii=False,
                                         separators=(',', ':')).encode())

    for table in TABLES:
        _rewrite(table, sa.LargeBinary(), seal)


def downgrade() -> None:
    from bot import crypto

    def unseal(value):  # type: ignore[no-untyped-def]
        return json.loads(crypto.decrypt(bytes(value)))

    for table in TABLES:
        _rewrite(table, sa.JSON(), unseal)


def _rewrite(table: str, kind: sa.types.TypeEngine, convert) -> None:  # type: ignore[no-untyped-def]
    """payload -> payload_new (converted row by row) -> payload, NOT NULL as before."""
    conn = op.get_bind()
    sqlite = conn.dialect.name == 'sqlite'
    # SQLite adds a NOT NULL column only with a default (every row is rewritten below);
    # PostgreSQL sets NOT NULL once the rows are filled
    default = (sa.text("X''") if isinstance(kind, sa.LargeBinary) else sa.text("'{}'")) \
        if sqlite else None
    op.add_column(table, sa.Column('payload_new', kind, nullable=not sqlite,
                                   server_default=default))
    column = sa.table(table, sa.column('id', sa.Integer), sa.column('payload'),
                      sa.column('payload_new', kind))
    last = 0
    while True:
        rows = conn.execute(sa.select(column.c.id, column.c.payload).where(
            column.c.id > last).order_by(column.c.id).limit(CHUNK)).all()
        if not rows:
            break
        conn.execute(column.update().where(column.c.id == sa.bindparam('row_id')).values(
            payload_new=sa.bindparam('value')), [
            {'row_id': row_id, 'value': None if payload is None else convert(payload)}
            for row_id, payload in rows])
        last = rows[-1][0]
    if not sqlite:
        op.alter_column(table, 'payload_new', nullable=False)
    # native on both PostgreSQL and SQLite (3.35+): no copy of the table
    op.execute(f'ALTER TABLE {table} DROP COLUMN payload')
    op.execute(f'ALTER TABLE {table} RENAME COLUMN payload_new TO payload')
