"""The schema migrates up, down and up again on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from core.db import migrate
from core.db.models import Base

TABLES = {t.name for t in Base.metadata.sorted_tables}


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_one_head():
    assert len(migrate.heads()) == 1


def test_upgrade_downgrade_upgrade(db_url):
    migrate.upgrade(db_url)
    assert _tables(db_url) == TABLES
    assert migrate.schema_state(db_url).up_to_date

    migrate.downgrade(db_url, "base")
    assert _tables(db_url) == set()
    state = migrate.schema_state(db_url)
    assert state.reachable and state.current is None and not state.up_to_date

    migrate.upgrade(db_url)
    assert _tables(db_url) == TABLES
    assert migrate.schema_state(db_url).up_to_date


def test_migrations_match_models(db_url):
    """Autogenerate finds nothing to do: the migrations and the models agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    migrate.upgrade(db_url)
    engine = create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
