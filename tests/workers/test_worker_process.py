"""`musechat worker` as a real process: start-up checks, and a worker killed mid-job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.config import get_settings
from core.conversation import ConversationService
from core.db.models import Pick, Turn
from core.db.session import session_scope
from tests.conversation.sample_media import write_clip
from tests.conversation.stack import subprocess_env

MUSECHAT = str(Path(sys.executable).with_name("musechat"))


def test_worker_needs_a_broker(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSECHAT_")}
    env["MUSECHAT_DATA_DIR"] = str(tmp_path)
    proc = subprocess.run([MUSECHAT, "worker"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "MUSECHAT_BROKER_URL is not set" in proc.stderr and "Traceback" not in proc.stderr


def test_worker_refuses_unknown_queues(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSECHAT_")}
    env.update(MUSECHAT_DATA_DIR=str(tmp_path), MUSECHAT_BROKER_URL="redis://127.0.0.1:1/0")
    proc = subprocess.run([MUSECHAT, "worker", "--queues", "gpu,video"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "unknown queue(s) video" in proc.stderr


def _spawn_worker(env: dict, log: Path, redeliver_after: int) -> subprocess.Popen:
    return subprocess.Popen([MUSECHAT, "worker", "--pool", "solo", "--loglevel", "INFO",
                             "--redeliver-after", str(redeliver_after)],
                            env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def _status(turn_id: int) -> tuple[str, int]:
    with session_scope() as s:
        turn = s.get(Turn, turn_id)
        return turn.status.value, turn.attempts


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_worker_killed_mid_job_runs_the_job_again_on_a_new_worker(queue_env, stack_pg, redis_server, tmp_path):
    env = subprocess_env(queue_env, MUSECHAT_DATABASE_URL=stack_pg, MUSECHAT_BROKER_URL=redis_server.url)
    log = tmp_path / "workers.log"
    service = ConversationService(get_settings())
    first = _spawn_worker(env, log, redeliver_after=8)
    second = None
    try:
        handle = service.start(write_clip(tmp_path / "kill.mp4", seconds=2.0), platform="slack",
                               user_id="U1", thread_id="k1", event_id="ev-kill")
        deadline = time.monotonic() + 120
        while _status(handle.turn_id)[0] != "running":
            assert time.monotonic() < deadline, log.read_text()
            assert first.poll() is None, log.read_text()
            time.sleep(0.1)
        os.killpg(first.pid, signal.SIGKILL)  # mid-job: no goodbye, no ack
        first.wait(10)
        assert _status(handle.turn_id) == ("running", 1)

        second = _spawn_worker(env, log, redeliver_after=8)
        view = service.wait(handle.turn_id, timeout=300)
        assert view.status == "done", (view.error, log.read_text()[-3000:])
        assert [p.rank for p in view.picks] == [1, 2, 3]  # one set of picks, not two
        with session_scope() as s:
            assert s.scalar(select(func.count()).select_from(Pick).where(Pick.turn_id == handle.turn_id)) == 3
        assert _status(handle.turn_id) == ("done", 2)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
