"""One real MuseChat installation shared by the end-to-end tests of a session.

Building it costs real work (the music encoder analyses the generated catalog; the
Engine loads its models), so it is built once per test session: a data directory with
a SQLite database holding the ingested catalog and its search index. Tests that need
PostgreSQL get the same catalog copied into a PostgreSQL database (same track ids, so
the search index on disk stays valid).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from tests.conversation.sample_media import write_catalog

# Small limits so the bad-input cases are cheap to generate.
STACK_ENV = {
    "MUSECHAT_TOP_K": "3",
    "MUSECHAT_MAX_VIDEO_SECONDS": "60",
    "MUSECHAT_MAX_UPLOAD_MB": "2",
    "MUSECHAT_JOB_TIMEOUT_S": "600",  # generous: a loaded 2-core machine explains slowly
    "MUSECHAT_LOG_LEVEL": "INFO",
}


@dataclass
class Stack:
    root: Path
    data_dir: Path
    sqlite_url: str
    track_ids: list[int] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        return {**STACK_ENV, "MUSECHAT_DATA_DIR": str(self.data_dir), **extra}

    def apply(self, monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
        """Point this test's settings at the stack (after the autouse isolation fixture)."""
        from core.config import reset_settings
        from core.db.session import dispose_all

        for key, value in self.env(**extra).items():
            monkeypatch.setenv(key, value)
        reset_settings()
        dispose_all()


_stack: Stack | None = None
_pg_urls: dict[str, str] = {}


def build_stack(root: Path) -> Stack:
    """The session's installation (built on first call): catalog ingested, index built."""
    global _stack
    if _stack is None:
        _stack = build_installation(root, write_catalog(root / "music"))
    return _stack


def build_installation(root: Path, music: Path) -> Stack:
    """An installation under ``root`` whose catalog is the audio files in ``music``."""
    from core.catalog.ingest import find_audio, info_from_file, ingest
    from core.catalog.service import load_music_encoder, refresh_index
    from core.config import get_settings, reset_settings
    from core.db import migrate
    from core.db.session import dispose_all

    stack = Stack(root, root / "data", f"sqlite:///{root / 'data' / 'musechat.db'}")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in stack.env().items():
            mp.setenv(key, value)
        mp.delenv("MUSECHAT_DATABASE_URL", raising=False)
        reset_settings()
        settings = get_settings()
        migrate.upgrade()
        items = [info_from_file(p, licence="CC0-1.0") for p in find_audio(music)]
        report = ingest(items, load_music_encoder(settings), settings)
        assert not report.failed, report.failed
        state = refresh_index(settings)
        assert "tracks" in state, state
        stack.track_ids = sorted(report.added)
        dispose_all()
        reset_settings()
    return stack


def postgres_copy(stack: Stack, server) -> str:
    """A PostgreSQL database holding the stack's catalog (created on first call)."""
    if server.url in _pg_urls:
        return _pg_urls[server.url]
    from core.db import migrate
    from core.db.models import Track

    name = "stack_catalog"
    admin = create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = server.url_for(name)
    migrate.upgrade(url)
    src, dst = create_engine(stack.sqlite_url), create_engine(url)
    with src.connect() as a, dst.begin() as b:
        rows = [dict(r._mapping) for r in a.execute(select(Track.__table__))]
        b.execute(Track.__table__.insert(), rows)
        b.execute(text("SELECT setval(pg_get_serial_sequence('tracks', 'id'), (SELECT max(id) FROM tracks))"))
    src.dispose()
    dst.dispose()
    _pg_urls[server.url] = url
    return url


def subprocess_env(stack: Stack, **extra: str) -> dict[str, str]:
    """Environment for a `musechat` child process using the stack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSECHAT_")}
    env.update(stack.env(**extra))
    env.setdefault("OMP_NUM_THREADS", "1")
    return env
