"""Results into threads: picks as soon as they are stored, explanations edited in with
chat.update, failures as a short reply, each finished turn posted exactly once — across
restarts, two running bots, failed posts and rate limits."""

from __future__ import annotations

import threading

import pytest

from core.db.models import Turn
from core.db.session import session_scope
from tests.bots.slack.conftest import store_answer
from tests.bots.slack.slack_requests import mention


@pytest.fixture
def run(serve, recorded_service):
    return serve(recorded_service)


@pytest.fixture
def started(run, mock_slack, clip):
    """A conversation started by a mention; its first turn queued (nobody answers it)."""
    event = mention(files=[mock_slack.host_file("clip.mp4", clip)])
    run.slack.event(event)
    run.settle()
    (turn_id,) = run.service.dispatcher.submitted
    mock_slack.calls.clear()
    return turn_id, event["ts"]


def _picks_messages(mock) -> list[str]:
    """ts of the messages in the mock Slack that show picks."""
    return [ts for (_, ts), m in mock.messages.items() if any(b.get("type") == "header" for b in m.get("blocks") or [])]


def _section_texts(blocks) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def test_picks_first_then_explanations_by_chat_update(run, mock_slack, started):
    turn_id, thread = started
    store_answer(run.service, turn_id, status="running", explained=False)  # the worker stored the picks
    assert run.bot.deliverer.tick() == 1
    (post,) = mock_slack.posts()
    assert post.params["thread_ts"] == thread and post.params["channel"] == "C1"
    blocks = post.params["blocks"]
    first, second, third = _section_texts(blocks)
    assert first.startswith("*1. Soft Pad* — Ambient Tester · 80% match")
    assert "`ambient` `synth`" in first and "72 bpm" in first and "0:35" in first and "licence: CC0-1.0" in first
    assert "`drums`" in second and "120 bpm" in second
    assert "1:02:05" in third and "bpm" not in third  # no tempo known
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [e["action_id"] for e in buttons] == ["pick_like", "pick_dislike", "pick_more"] * 3 + ["refine_open"]
    assert any("Writing why" in str(b) for b in blocks)

    store_answer(run.service, turn_id, status="done", explained=True)
    assert run.bot.deliverer.tick() == 1
    (picks_ts,) = _picks_messages(mock_slack)
    (update,) = mock_slack.calls_to("chat.update")
    assert update.params["ts"] == picks_ts
    texts = _section_texts(update.params["blocks"])
    assert "_Its soft pad feel suits the scene._" in texts[0]
    assert not any("Writing why" in str(b) for b in update.params["blocks"])
    assert len(mock_slack.posts()) == 1  # edited, not posted again
    assert run.bot.deliverer.tick() == 0 and run.service.get_turn(turn_id).delivered


def test_picks_shown_before_a_restart_are_completed_in_place(serve, recorded_service, mock_slack, run, started):
    turn_id, thread = started
    store_answer(run.service, turn_id, status="running", explained=False)
    assert run.bot.deliverer.tick() == 1  # early picks, then this process goes away
    (early_ts,) = _picks_messages(mock_slack)
    store_answer(run.service, turn_id, status="done", explained=True)
    fresh = serve(recorded_service)  # a new process: it never saw the early message
    assert fresh.bot.deliverer.tick() == 1
    assert [c.params["ts"] for c in mock_slack.calls_to("chat.update")] == [early_ts]
    assert len(mock_slack.posts()) == 1 and _picks_messages(mock_slack) == [early_ts]
    assert mock_slack.calls_to("conversations.replies")[0].params["ts"] == thread
    assert "Its soft pad feel suits the scene." in str(mock_slack.messages[("C1", early_ts)]["blocks"])


def test_failed_job_gets_a_short_friendly_reply(run, mock_slack, started):
    turn_id, thread = started
    store_answer(run.service, turn_id, status="failed", error="That video seems to be damaged or cut off, "
                                                               "so I couldn't decode it.")
    assert run.bot.deliverer.tick() == 1
    (post,) = mock_slack.posts()
    assert post.params["thread_ts"] == thread
    assert post.params["text"] == "⚠️ That video seems to be damaged or cut off, so I couldn't decode it."


def test_results_left_by_a_stopped_bot_are_delivered_once_after_restart(serve, recorded_service, mock_slack,
                                                                         run, started):
    turn_id, thread = started
    store_answer(run.service, turn_id)  # finished while no bot was running
    # Two bot processes come up at once: the claim lets exactly one of them post it.
    a, b = serve(recorded_service), serve(recorded_service)
    threads = [threading.Thread(target=x.bot.deliverer.tick) for x in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(mock_slack.posts()) == 1 and mock_slack.posts()[0].params["thread_ts"] == thread
    assert serve(recorded_service).bot.deliverer.tick() == 0  # and not again by the next one


def test_failed_post_is_retried_later_exactly_once(run, mock_slack, started):
    turn_id, _ = started
    store_answer(run.service, turn_id)
    run.bot.deliverer.retry_base_s = 0.05
    mock_slack.fail["chat.postMessage"] = ["internal_error"]
    assert run.bot.deliverer.tick() == 0
    assert not run.service.get_turn(turn_id).delivered  # released for another try
    mock_slack.wait_for(lambda: run.bot.deliverer.tick(), timeout=5, what="the second try")
    assert len(_picks_messages(mock_slack)) == 1 and len(mock_slack.posts()) == 2
    assert run.bot.deliverer.tick() == 0


def test_rate_limited_post_waits_and_succeeds(run, mock_slack, started):
    turn_id, _ = started
    store_answer(run.service, turn_id)
    mock_slack.rate_limit["chat.postMessage"] = 2  # 429 with Retry-After, twice
    assert run.bot.deliverer.tick() == 1
    assert len(mock_slack.posts()) == 3 and len(_picks_messages(mock_slack)) == 1
    # This process watched the turn and never showed it: no need to read the thread first.
    assert mock_slack.calls_to("conversations.replies") == []


def test_post_that_can_never_succeed_is_dropped(run, mock_slack, started):
    turn_id, _ = started
    store_answer(run.service, turn_id)
    mock_slack.fail["chat.postMessage"] = ["channel_not_found"]
    assert run.bot.deliverer.tick() == 0
    assert run.bot.deliverer.tick() == 0 and len(mock_slack.posts()) == 1  # not retried in a loop
    with session_scope(run.service.url) as s:
        assert s.get(Turn, turn_id).posted_at is not None  # the claim ended: not offered again later


def test_delivery_thread_posts_by_itself(run, mock_slack, started):
    turn_id, _ = started
    run.bot.start()
    store_answer(run.service, turn_id)
    mock_slack.wait_for(lambda: mock_slack.posts(), timeout=10, what="the picks")

    def posted():
        with session_scope(run.service.url) as s:
            return s.get(Turn, turn_id).posted_at is not None

    mock_slack.wait_for(posted, timeout=10, what="the claim to end")
