"""turns.posted_at: a front end's claim on a finished turn is a lease until it confirms the post

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 08:20:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True))
    # Turns claimed before this revision were posted (or dropped for good) by the code of the time.
    op.execute("UPDATE turns SET posted_at = delivered_at WHERE delivered_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.drop_column('posted_at')
