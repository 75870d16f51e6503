"""Fixtures for the Discord front end: the real bot against the fake Discord, with the real
conversation service — on SQLite with jobs recorded (what the Discord side does), or end
to end on the workers' PostgreSQL + Redis + Celery stack (what a member sees)."""

from __future__ import annotations

import pytest

from core.config import get_settings
from core.conversation.service import ConversationService
from core.db import migrate
from tests.bots.discord.harness import run
# The end-to-end stack of the worker tests (PostgreSQL catalog, Redis, one Celery worker).
from tests.workers.conftest import celery_worker, queue_env, stack, stack_pg  # noqa: F401


class RecordingDispatcher:
    """Keeps the jobs instead of running them: tests of the Discord side need turns, not answers."""

    def __init__(self):
        self.submitted: list[int] = []

    def submit(self, turn_id: int, job_id: str) -> None:
        self.submitted.append(turn_id)


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    """Run a scenario with the real service on a fresh migrated SQLite; jobs are recorded."""
    monkeypatch.setenv("MUSECHAT_MAX_UPLOAD_MB", "2")
    url = f"sqlite:///{tmp_path / 'discord.db'}"
    migrate.upgrade(url)
    dispatcher = RecordingDispatcher()

    def service() -> ConversationService:
        from core.config import reset_settings

        reset_settings()
        return ConversationService(get_settings(), database_url=url, dispatcher=dispatcher)

    def go(scenario, **kw):
        run(scenario, monkeypatch, tmp_path, service=service, **kw)

    go.dispatcher = dispatcher
    go.service = service
    return go


@pytest.fixture
def end_to_end(queue_env, celery_worker, tmp_path, monkeypatch):
    """Run a scenario against the real worker: Redis broker, PostgreSQL, the generated catalog."""
    def go(scenario, **kw):
        run(scenario, monkeypatch, tmp_path, **kw)

    return go
