"""videos.facts: the measured video facts (pace, light, colour, confident content labels)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 22:30:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Videos analysed before this revision get their facts when a turn next reads them.
    with op.batch_alter_table('videos', schema=None) as batch_op:
        batch_op.add_column(sa.Column('facts', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('videos', schema=None) as batch_op:
        batch_op.drop_column('facts')
