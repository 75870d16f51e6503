"""tracks: reconciled tempo with its raw estimate, onset rate, feel word and provenance

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 22:40:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('tracks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tempo_raw_bpm', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('onset_rate', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('tempo_feel', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('tempo_basis', sa.JSON(), nullable=True))
    # Until `musechat catalog refacts` reconciles them, the old numbers are raw estimates;
    # their feel follows the number shown (same bands as core.catalog.tempo.tempo_feel), so
    # nothing displayed disagrees in between. tempo_basis stays NULL: refacts redoes these.
    op.execute("UPDATE tracks SET tempo_raw_bpm = tempo_bpm, tempo_feel = CASE"
               " WHEN tempo_bpm IS NULL THEN NULL WHEN tempo_bpm < 90 THEN 'slow'"
               " WHEN tempo_bpm < 120 THEN 'moderate' ELSE 'fast' END")


def downgrade() -> None:
    # The raw estimate is what tempo_bpm held before this revision.
    op.execute("UPDATE tracks SET tempo_bpm = tempo_raw_bpm WHERE tempo_basis IS NOT NULL")
    with op.batch_alter_table('tracks', schema=None) as batch_op:
        batch_op.drop_column('tempo_basis')
        batch_op.drop_column('tempo_feel')
        batch_op.drop_column('onset_rate')
        batch_op.drop_column('tempo_raw_bpm')
