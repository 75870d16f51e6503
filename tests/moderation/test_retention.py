"""Retention: old conversations and media go, recent and flagged ones stay; the sweep
runs from the CLI and as the Celery beat task."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from core.config import Settings
from core.db import migrate
from core.db.models import AuditLog, Conversation, Video
from core.db.session import session_scope
from core.moderation.retention import run_retention
from tests.moderation.seed import NOW, add_conversation, add_tracks


def _setup(url, tmp_path):
    add_tracks(url)
    media = tmp_path / "data" / "media"  # under the data directory, where MuseChat stores uploads
    media.mkdir(parents=True, exist_ok=True)
    files = {name: media / f"{name}.mp4" for name in ("old", "recent", "flagged")}
    for f in files.values():
        f.write_bytes(b"video")
    ids = {
        "old": add_conversation(url, created_at=NOW - timedelta(days=200), video_path=str(files["old"]),
                                video_hash="1" * 64),
        "flagged": add_conversation(url, created_at=NOW - timedelta(days=200), flagged_reason="evidence",
                                    video_path=str(files["flagged"]), video_hash="2" * 64),
        "media_only": add_conversation(url, created_at=NOW - timedelta(days=40), video_path=str(files["recent"]),
                                       video_hash="3" * 64),
        "recent": add_conversation(url, created_at=NOW - timedelta(days=2)),
    }
    return ids, files


def test_sweep_deletes_what_is_older_than_the_settings(db, tmp_path):
    ids, files = _setup(db, tmp_path)
    settings = Settings(retention_conversation_days=180, retention_media_days=30)
    report = run_retention(settings, url=db, now=NOW)
    assert report.conversation_ids == [ids["old"]] and report.conversations == 1 and report.videos == 1
    assert report.media == 2  # the flagged conversation's and the 40-day-old one's files
    assert not any(f.exists() for f in files.values())
    with session_scope(db) as s:
        assert sorted(s.scalars(select(Conversation.id))) == sorted([ids["flagged"], ids["media_only"], ids["recent"]])
        assert s.scalar(select(func.count()).select_from(Video).where(Video.path.is_not(None))) == 0
        entry = s.scalars(select(AuditLog)).one()
    assert (entry.actor, entry.action) == ("retention", "retention")
    assert entry.details["conversation_ids"] == [ids["old"]] and entry.details["media"] == 2
    # Nothing more to do: no new audit entry.
    assert run_retention(settings, url=db, now=NOW).conversations == 0
    with session_scope(db) as s:
        assert s.scalar(select(func.count()).select_from(AuditLog)) == 1


def test_zero_days_keeps_everything(sqlite_db, tmp_path):
    _setup(sqlite_db, tmp_path)
    report = run_retention(Settings(retention_conversation_days=0, retention_media_days=0), url=sqlite_db,
                           now=NOW + timedelta(days=3650))
    assert (report.conversations, report.media) == (0, 0)


def test_retention_run_command(sqlite_db, tmp_path, monkeypatch):
    from core.cli import app

    ids, _ = _setup(sqlite_db, tmp_path)
    monkeypatch.setenv("MUSECHAT_DATABASE_URL", sqlite_db)
    monkeypatch.setenv("MUSECHAT_RETENTION_CONVERSATION_DAYS", "1")
    result = CliRunner().invoke(app, ["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "deleted 3 conversations" in result.output  # every unflagged one is over a day old
    with session_scope(sqlite_db) as s:
        assert list(s.scalars(select(Conversation.id))) == [ids["flagged"]]


@pytest.mark.redis
def test_celery_beat_schedules_the_sweep_and_a_worker_runs_it(redis_server, tmp_path, monkeypatch):
    import celery.contrib.testing.tasks  # noqa: F401  (start_worker pings with it)
    from celery.contrib.testing.worker import start_worker

    from core.config import reset_settings
    from workers.celery_app import create_app

    url = f"sqlite:///{tmp_path / 'beat.db'}"
    migrate.upgrade(url)
    ids, files = _setup(url, tmp_path)
    for key, value in {"MUSECHAT_DATABASE_URL": url, "MUSECHAT_BROKER_URL": redis_server.url,
                       "MUSECHAT_RETENTION_CONVERSATION_DAYS": "100",
                       "MUSECHAT_RETENTION_INTERVAL_MINUTES": "15"}.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    app = create_app()
    entry = app.conf.beat_schedule["retention"]
    assert (entry["task"], entry["schedule"], entry["options"]["queue"]) == ("musechat.retention", 900, "cpu")
    with start_worker(app, pool="solo", perform_ping_check=False, queues=["cpu"]):
        app.send_task(entry["task"], queue="cpu")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with session_scope(url) as s:
                if s.get(Conversation, ids["old"]) is None:
                    break
            time.sleep(0.2)
    with session_scope(url) as s:
        assert s.get(Conversation, ids["old"]) is None and s.get(Conversation, ids["recent"]) is not None
    assert not files["old"].exists()
