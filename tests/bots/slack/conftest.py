"""Fixtures for the Slack front end: a mock Slack, the app served over real HTTP, and the
real conversation service (on SQLite with jobs recorded, or end to end on the workers'
PostgreSQL + Redis + Celery stack)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import pytest

from bots.slack.app import EVENTS_PATH, SlackBot, create_bot, http_server
from bots.slack.installs import web_client
from core.config import get_settings, reset_settings
from core.conversation.service import ConversationService
from core.db import migrate
from core.db.session import dispose_all
from tests.bots.slack.mock_slack import MockSlack
from tests.bots.slack.slack_requests import SECRET, Slack
from tests.conversation.sample_media import write_clip
# The end-to-end stack of the worker tests (PostgreSQL catalog, Redis, one Celery worker).
from tests.workers.conftest import celery_worker, queue_env, stack, stack_pg  # noqa: F401

BOT_TOKEN = "xoxb-test"


class TrackingExecutor(ThreadPoolExecutor):
    """Bolt's listener pool, keeping the futures so a test can wait for the listeners."""

    def __init__(self):
        super().__init__(5, thread_name_prefix="bolt-listener")
        self.futures: list[Future] = []

    def submit(self, fn, /, *args, **kwargs) -> Future:
        fut = super().submit(fn, *args, **kwargs)
        self.futures.append(fut)
        return fut


class RecordingDispatcher:
    """Keeps the jobs instead of running them: tests of the Slack side need turns, not answers."""

    def __init__(self):
        self.submitted: list[int] = []

    def submit(self, turn_id: int, job_id: str) -> None:
        self.submitted.append(turn_id)


@pytest.fixture
def mock_slack() -> Iterator[MockSlack]:
    mock = MockSlack({BOT_TOKEN: "T1"})
    yield mock
    mock.close()


@pytest.fixture
def slack_env(monkeypatch) -> None:
    """Slack credentials and a small upload limit, on top of the isolated settings."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("MUSECHAT_MAX_UPLOAD_MB", "1")
    reset_settings()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A SQLite file at the head migration, copied for each test (migrating takes seconds)."""
    path = tmp_path_factory.mktemp("slack-db") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    dispose_all()
    return path


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> bytes:
    """A tiny real video (1 s H.264 + AAC)."""
    return write_clip(tmp_path_factory.mktemp("slack-media") / "clip.mp4", seconds=1.0).read_bytes()


@pytest.fixture
def recorded_service(slack_env, tmp_path, migrated_sqlite) -> ConversationService:
    """The real service on a fresh migrated SQLite; jobs are recorded, not run."""
    db = tmp_path / "slack.db"
    shutil.copyfile(migrated_sqlite, db)
    return ConversationService(get_settings(), database_url=f"sqlite:///{db}", dispatcher=RecordingDispatcher())


@dataclass
class Running:
    bot: SlackBot
    slack: Slack
    mock: MockSlack
    url: str

    @property
    def service(self) -> ConversationService:
        return self.bot.service

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until the listeners and the work they queued are done."""
        pool = self.bot.app.listener_runner.listener_executor
        while True:
            pending = [f for f in pool.futures + self.bot.intake.futures if not f.done()]
            if not pending:
                return
            wait(pending, timeout)


@pytest.fixture
def serve(mock_slack):
    """``serve(service, **create_bot_kwargs)``: the app on a real HTTP server (port 0)
    talking to the mock Slack. The delivery thread is not started: tests call
    ``bot.deliverer.tick()`` or ``bot.start()`` themselves."""
    started: list[tuple[SlackBot, object, threading.Thread]] = []

    def _serve(service: ConversationService, **kwargs) -> Running:
        kwargs.setdefault("client", web_client(None if kwargs.get("oauth") else BOT_TOKEN,
                                               base_url=mock_slack.base_url))
        bot = create_bot(get_settings(), service=service, poll_s=0.1, listener_executor=TrackingExecutor(), **kwargs)
        server = http_server(bot, "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        started.append((bot, server, thread))
        url = f"http://127.0.0.1:{server.server_port}"
        return Running(bot, Slack(url + EVENTS_PATH), mock_slack, url)

    yield _serve
    for bot, server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(5)
        bot.stop()


TRACKS = [
    {"title": "Soft Pad", "artist": "Ambient Tester", "tempo_bpm": 72.0, "duration_s": 35.0, "vocal_prob": 0.1,
     "tags": {"mtt": {"ambient": 0.9, "synth": 0.7}}},
    {"title": "Drum Machine 120", "artist": "Test Band", "tempo_bpm": 120.0, "duration_s": 30.0, "vocal_prob": 0.2,
     "tags": {"mtt": {"drums": 0.95, "techno": 0.6}, "msd": {"electronic": 0.8}}},
    {"title": "Humming Voice", "artist": None, "tempo_bpm": None, "duration_s": 3725.0, "vocal_prob": 0.9,
     "tags": {"msd": {"vocal": 0.9}}},
]


def store_answer(service: ConversationService, turn_id: int, *, status: str = "done", explained: bool = True,
                 error: str | None = None) -> list[int]:
    """Write a turn's result as a worker does (picks, then explanations, then the status),
    for Slack-side tests that run no models. Returns the pick ids."""
    from sqlalchemy import select

    from core.db.models import Pick, Track, Turn, TurnStatus, utcnow
    from core.db.session import session_scope

    with session_scope(service.url) as s:
        tracks = list(s.scalars(select(Track).order_by(Track.id)))
        if not tracks:
            tracks = [Track(content_hash=f"{i:064d}", path=f"/music/{i}.wav", licence="CC0-1.0",
                            attribution="test", **t) for i, t in enumerate(TRACKS)]
            s.add_all(tracks)
            s.flush()
        turn = s.get(Turn, turn_id)
        if status != "failed" and not turn.picks:
            for rank, track in enumerate(tracks, start=1):
                s.add(Pick(turn_id=turn_id, rank=rank, track_id=track.id, score=0.8 - 0.2 * rank))
        s.flush()
        for p in s.scalars(select(Pick).where(Pick.turn_id == turn_id)):
            if explained:
                p.explanation = f"Its {p.track.title.lower()} feel suits the scene."
        turn.status = TurnStatus(status)
        turn.error = error
        turn.started_at = turn.started_at or utcnow()
        if status in ("done", "failed"):
            turn.finished_at = utcnow()
        s.flush()
        return list(s.scalars(select(Pick.id).where(Pick.turn_id == turn_id).order_by(Pick.rank)))
