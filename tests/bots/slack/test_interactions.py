"""Buttons on picks, the Refine… modal and /musechat, through signed interaction and
slash-command requests."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core.db.models import Conversation, Reaction, ReactionKind, Turn
from core.db.session import session_scope
from tests.bots.slack.conftest import store_answer
from tests.bots.slack.slack_requests import mention


@pytest.fixture
def run(serve, recorded_service):
    return serve(recorded_service)


@pytest.fixture
def answered(run, mock_slack, clip):
    """A conversation whose first turn has picks on show: (conversation id, pick ids, thread ts, picks ts)."""
    event = mention(files=[mock_slack.host_file("clip.mp4", clip)])
    run.slack.event(event)
    run.settle()
    (turn_id,) = run.service.dispatcher.submitted
    picks = store_answer(run.service, turn_id)
    run.bot.deliverer.tick()
    picks_ts = [ts for (_, ts), m in mock_slack.messages.items() if m.get("blocks")][0]
    mock_slack.calls.clear()
    return run.service.get_turn(turn_id).conversation_id, picks, event["ts"], picks_ts


def _reactions(service) -> list[tuple[str, str]]:
    with session_scope(service.url) as s:
        return [(r.user_id, r.kind.value) for r in s.scalars(select(Reaction).order_by(Reaction.id))]


def _turns(service, conversation_id) -> list[Turn]:
    with session_scope(service.url) as s:
        return list(s.scalars(select(Turn).where(Turn.conversation_id == conversation_id).order_by(Turn.index)))


def test_like_and_dislike_are_recorded_and_acknowledged_privately(run, mock_slack, answered):
    _, picks, thread, picks_ts = answered
    assert run.slack.click("pick_like", str(picks[0]), user="U2", message_ts=picks_ts, thread_ts=thread)[0] == 200
    run.settle()
    assert _reactions(run.service) == [("U2", "like")]
    (whisper,) = mock_slack.calls_to("chat.postEphemeral")
    assert whisper.params["user"] == "U2" and whisper.params["thread_ts"] == thread and "👍" in whisper.params["text"]
    # Changing one's mind replaces the like.
    run.slack.click("pick_dislike", str(picks[0]), user="U2", message_ts=picks_ts, thread_ts=thread)
    run.settle()
    assert _reactions(run.service) == [("U2", "dislike")]
    assert mock_slack.posts() == []  # nothing public for a vote


def test_more_like_this_makes_the_next_turn(run, mock_slack, answered):
    conversation_id, picks, thread, picks_ts = answered
    run.slack.click("pick_more", str(picks[1]), message_ts=picks_ts, thread_ts=thread)
    run.settle()
    turns = _turns(run.service, conversation_id)
    assert [t.index for t in turns] == [0, 1]
    assert _reactions(run.service) == [("U1", ReactionKind.more_like_this.value)]
    (post,) = mock_slack.posts()
    assert post.params["thread_ts"] == thread and "more like that" in post.params["text"]
    assert turns[1].id in run.bot.deliverer._watched


def test_button_of_a_deleted_pick_says_so(run, mock_slack, answered):
    _, _, thread, picks_ts = answered
    run.slack.click("pick_like", "999999", message_ts=picks_ts, thread_ts=thread)
    run.settle()
    (whisper,) = mock_slack.calls_to("chat.postEphemeral")
    assert "can't find that pick" in whisper.params["text"]


def test_refine_modal_opens_validates_and_makes_the_next_turn(run, mock_slack, answered):
    conversation_id, _, thread, picks_ts = answered
    run.slack.click("refine_open", str(conversation_id), message_ts=picks_ts, thread_ts=thread)
    run.settle()
    (opened,) = mock_slack.calls_to("views.open")
    view = opened.params["view"]
    assert view["callback_id"] == "refine_submit" and opened.params["trigger_id"].startswith("tr")
    assert json.loads(view["private_metadata"]) == {"conversation_id": conversation_id, "channel": "C1",
                                                    "thread": f"C1:{thread}"}

    status, body = run.slack.submit_view(view, text="   ")  # nothing asked for: the modal stays open
    assert status == 200 and json.loads(body)["response_action"] == "errors"
    assert len(_turns(run.service, conversation_id)) == 1

    status, body = run.slack.submit_view(view, text="more piano", options=["no vocals"])
    assert status == 200 and body == ""
    run.settle()
    turns = _turns(run.service, conversation_id)
    assert [(t.index, t.feedback_text) for t in turns] == [(0, None), (1, "more piano, no vocals")]
    assert turns[1].filters == {"instrumental_only": True}
    assert mock_slack.posts()[-1].params["thread_ts"] == thread


def test_musechat_help_and_unknown(run):
    status, body = run.slack.command("help")
    assert status == 200 and "/musechat forget-me" in body
    status, body = run.slack.command("dance")
    assert "I don't know `dance`" in body and "/musechat forget-me" in body


def test_forget_me_deletes_only_the_callers_data(run, mock_slack, clip, answered):
    conversation_id, picks, thread, picks_ts = answered
    run.slack.event(mention(files=[mock_slack.host_file("same.mp4", clip)], user="U7"))
    run.slack.click("pick_like", str(picks[0]), user="U7", message_ts=picks_ts, thread_ts=thread)
    run.settle()

    url = mock_slack.response_url()
    status, body = run.slack.command("forget-me", user="U1", response_url=url)
    assert status == 200 and "Deleting" in body
    run.settle()
    (answer,) = mock_slack.responses
    assert answer["text"].startswith("Done: I deleted 1 conversation(s), 1 turn(s)")
    assert answer["response_type"] == "ephemeral"
    with session_scope(run.service.url) as s:
        assert [c.user_id for c in s.scalars(select(Conversation))] == ["U7"]
    assert _reactions(run.service) == []  # U7's like was on U1's (deleted) picks
