"""The Slack app end to end: signed requests in, the real conversation service on
PostgreSQL, a real Redis and Celery worker running the real engine on the generated
catalog, and the picks coming back into the mock Slack thread."""

from __future__ import annotations

import pytest

from core.config import get_settings
from core.conversation.service import ConversationService
from tests.bots.slack.slack_requests import mention, message
from tests.conversation.sample_media import write_clip
from tests.media import write_video

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

WAIT_S = 240  # generous: the worker's first job loads the models on a busy 2-core machine


@pytest.fixture
def service(queue_env, celery_worker, slack_env) -> ConversationService:
    return ConversationService(get_settings())  # jobs go through Redis to the worker


def _picks_messages(mock, thread: str) -> list[dict]:
    """The picks messages in a thread, oldest first, as they look now."""
    found = [(ts, m) for (_, ts), m in sorted(mock.messages.items(), key=lambda kv: kv[0][1])
             if m.get("thread_ts") == thread and any(b.get("type") == "header" for b in m.get("blocks") or [])]
    return [m for _, m in found]


def _explained(mock, thread: str, n: int):
    """The n-th picks message of the thread once its explanations are in, else None."""
    msgs = _picks_messages(mock, thread)
    if len(msgs) < n:
        return None
    m = msgs[n - 1]
    sections = [b["text"]["text"] for b in m["blocks"] if b["type"] == "section"]
    return m if sections and all("\n_" in t for t in sections) else None


def test_video_then_thread_reply_then_a_vote(serve, service, mock_slack, tmp_path):
    run = serve(service)
    run.bot.start()
    clip = write_clip(tmp_path / "beach.mp4", seconds=3.0).read_bytes()
    event = mention("something calm", files=[mock_slack.host_file("beach.mp4", clip)])
    assert run.slack.event(event)[0] == 200
    thread = event["ts"]

    first = mock_slack.wait_for(lambda: _explained(mock_slack, thread, 1), timeout=WAIT_S, what="turn 1's picks")
    sections = [b["text"]["text"] for b in first["blocks"] if b["type"] == "section"]
    assert [s.split(".")[0] for s in sections] == ["*1", "*2", "*3"]
    assert all("% match" in s and "licence: CC0-1.0" in s for s in sections)
    assert "Listening" in mock_slack.posts()[0].params["text"]

    run.slack.event(message("calmer, no vocals", thread_ts=thread))
    second = mock_slack.wait_for(lambda: _explained(mock_slack, thread, 2), timeout=WAIT_S, what="turn 2's picks")
    assert "calmer, no vocals" in second["blocks"][0]["text"]["text"]
    turns = service.conversation(service.find_conversation("slack", f"C1:{thread}"))
    assert [t.status for t in turns] == ["done", "done"] and all(t.delivered for t in turns)
    assert all(p.instrumental for p in turns[1].picks)
    assert not {p.track_id for p in turns[0].picks} & {p.track_id for p in turns[1].picks}

    pick = turns[1].picks[0]
    run.slack.click("pick_like", str(pick.pick_id), message_ts="1", thread_ts=thread)
    mock_slack.wait_for(lambda: mock_slack.calls_to("chat.postEphemeral"), timeout=10, what="the vote's answer")


def test_failed_job_reported_once_by_the_bot_that_runs_after_a_restart(serve, service, mock_slack, tmp_path):
    whole = write_video(tmp_path / "whole.mp4", seconds=3.0, audio_codec="aac").read_bytes()
    broken = whole[: len(whole) // 2]  # cut off mid-file: the worker cannot decode it
    stopped = serve(service)  # takes the event, queues the turn, then "dies" before any result
    event = mention(files=[mock_slack.host_file("cut.mp4", broken)])
    stopped.slack.event(event)
    stopped.settle()
    (turn_id,) = stopped.bot.deliverer._watched
    assert service.wait(turn_id, timeout=WAIT_S).status == "failed"

    restarted, spare = serve(service), serve(service)
    restarted.bot.start()
    spare.bot.start()
    reply = mock_slack.wait_for(lambda: [c for c in mock_slack.posts() if c.params["text"].startswith("⚠️")],
                                timeout=30, what="the failure reply")
    assert reply[0].params["thread_ts"] == event["ts"]
    assert "damaged or cut off" in reply[0].params["text"]
    restarted.bot.deliverer.tick()
    spare.bot.deliverer.tick()
    assert len([c for c in mock_slack.posts() if c.params["text"].startswith("⚠️")]) == 1
