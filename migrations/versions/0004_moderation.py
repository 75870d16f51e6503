"""moderation console: accounts, sessions, login attempts, search indexes, append-only audit log

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 03:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The console never edits or deletes audit entries; these triggers make the database refuse
# it too, so a bug or a stolen console session cannot rewrite history.
_SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
]
_PG_FUNCTION = (
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
)
_PG_TRIGGER = (
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
)


def upgrade() -> None:
    op.create_table('moderators',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.Enum('moderator', 'admin', name='moderatorrole', native_enum=False, length=20),
              nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderators')),
    sa.UniqueConstraint('name', name=op.f('uq_moderators_name'))
    )
    op.create_table('moderator_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('moderator_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['moderator_id'], ['moderators.id'],
                            name=op.f('fk_moderator_sessions_moderator_id_moderators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderator_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_moderator_sessions_token_hash'))
    )
    with op.batch_alter_table('moderator_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_moderator_sessions_expires_at', ['expires_at'], unique=False)
        batch_op.create_index('ix_moderator_sessions_moderator', ['moderator_id'], unique=False)

    op.create_table('login_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('client', sa.String(length=64), nullable=False),
    sa.Column('success', sa.Boolean(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempts'))
    )
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_login_attempts_client_at', ['client', 'at'], unique=False)
        batch_op.create_index('ix_login_attempts_name_at', ['name', 'at'], unique=False)

    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index('ix_conversations_flagged_created_at', ['flagged', 'created_at'], unique=False)
        batch_op.create_index('ix_conversations_user_id', ['user_id'], unique=False)
        batch_op.create_index('ix_conversations_updated_at', ['updated_at'], unique=False)

    if op.get_bind().dialect.name == 'postgresql':
        # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.create_index('ix_turns_feedback_text_trgm', 'turns', ['feedback_text'], unique=False,
                        postgresql_using='gin', postgresql_ops={'feedback_text': 'gin_trgm_ops'})
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    else:
        with op.batch_alter_table('turns', schema=None) as batch_op:
            batch_op.create_index('ix_turns_feedback_text_trgm', ['feedback_text'], unique=False)
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log')
        op.execute('DROP FUNCTION IF EXISTS audit_log_append_only()')
        op.drop_index('ix_turns_feedback_text_trgm', table_name='turns')
    else:
        op.execute('DROP TRIGGER IF EXISTS audit_log_no_update')
        op.execute('DROP TRIGGER IF EXISTS audit_log_no_delete')
        with op.batch_alter_table('turns', schema=None) as batch_op:
            batch_op.drop_index('ix_turns_feedback_text_trgm')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_conversations_updated_at')
        batch_op.drop_index('ix_conversations_user_id')
        batch_op.drop_index('ix_conversations_flagged_created_at')
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_login_attempts_name_at')
        batch_op.drop_index('ix_login_attempts_client_at')
    op.drop_table('login_attempts')
    with op.batch_alter_table('moderator_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_moderator_sessions_moderator')
        batch_op.drop_index('ix_moderator_sessions_expires_at')
    op.drop_table('moderator_sessions')
    op.drop_table('moderators')
