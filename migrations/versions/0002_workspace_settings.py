"""workspace settings (per Discord guild / Slack workspace)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 02:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('workspace_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=20), nullable=False),
    sa.Column('workspace_id', sa.String(length=64), nullable=False),
    sa.Column('allowed_channels', sa.JSON(), nullable=False),
    sa.Column('turns_per_hour', sa.Integer(), nullable=True),
    sa.Column('max_upload_mb', sa.Float(), nullable=True),
    sa.Column('shared_threads', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workspace_settings')),
    sa.UniqueConstraint('platform', 'workspace_id', name='uq_workspace_settings_platform_workspace')
    )


def downgrade() -> None:
    op.drop_table('workspace_settings')
