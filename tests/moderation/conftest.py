"""Fixtures for moderation tests: migrated databases, cheap password hashing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from core.config import get_settings
from core.db import migrate


@pytest.fixture
def real_hash_cost() -> None:
    """Ask for this to keep argon2id at its production cost."""


@pytest.fixture(autouse=True)
def fast_password_hashing(request, monkeypatch):
    """argon2id with its production cost (64 MiB, 3 passes) takes ~0.1-1 s per hash on a
    busy CI machine; tests use the same algorithm at minimum cost unless they request
    the ``real_hash_cost`` fixture."""
    if "real_hash_cost" not in request.fixturenames:
        from core.moderation import accounts

        monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory) -> Path:
    """One migrated SQLite file per session; tests get copies (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("schema") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_db(migrated_sqlite_template, tmp_path) -> str:
    """A migrated SQLite database (logic that does not depend on the database engine)."""
    dest = tmp_path / "console.db"
    shutil.copyfile(migrated_sqlite_template, dest)
    return f"sqlite:///{dest}"


@pytest.fixture
def db(db_url, migrated_sqlite_template, tmp_path) -> str:
    """A migrated database, once on SQLite and once on PostgreSQL."""
    if db_url.startswith("sqlite"):
        shutil.copyfile(migrated_sqlite_template, db_url.removeprefix("sqlite:///"))
    else:
        migrate.upgrade(db_url)
    return db_url


@pytest.fixture
def settings():
    return get_settings()
