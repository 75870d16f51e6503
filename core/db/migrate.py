"""Schema migrations through Alembic, callable from code and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from core.config import REPO_ROOT, get_settings


def alembic_config(database_url: str | None = None) -> Config:
    cfg = Config(str(REPO_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    url = database_url or get_settings().sqlalchemy_url
    cfg.attributes["database_url"] = url
    return cfg


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    cfg = alembic_config(database_url)
    _ensure_sqlite_dir(cfg.attributes["database_url"])
    command.upgrade(cfg, revision)


def downgrade(database_url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def heads() -> list[str]:
    return list(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


@dataclass
class SchemaState:
    reachable: bool
    current: str | None
    head: str
    error: str | None = None

    @property
    def up_to_date(self) -> bool:
        return self.reachable and self.current == self.head


def schema_state(database_url: str | None = None) -> SchemaState:
    """Where the database's schema stands relative to the code's migrations."""
    url = database_url or get_settings().sqlalchemy_url
    (head,) = heads()
    if url.startswith("sqlite:///"):
        from pathlib import Path

        if not Path(url.removeprefix("sqlite:///")).exists():
            return SchemaState(False, None, head, "database file does not exist")
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        return SchemaState(True, current, head)
    except (OperationalError, SQLAlchemyError) as exc:
        return SchemaState(False, None, head, str(exc.orig if hasattr(exc, "orig") else exc).strip().splitlines()[0])
    finally:
        engine.dispose()
