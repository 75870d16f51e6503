"""Messages in, turns out: mentions, DMs, the message shortcut, thread replies, re-sent
events and every kind of bad upload — through signed HTTP requests into the app, with the
real conversation service on SQLite (jobs are recorded, not run)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.db.models import Conversation, Turn, Video
from core.db.session import session_scope
from tests.bots.slack.conftest import BOT_TOKEN
from tests.bots.slack.slack_requests import mention, message, next_ts


@pytest.fixture
def run(serve, recorded_service):
    return serve(recorded_service)


def _rows(service, model=Conversation) -> list:
    with session_scope(service.url) as s:
        return list(s.scalars(select(model).order_by(model.id)))


def _count(service, model) -> int:
    with session_scope(service.url) as s:
        return s.scalar(select(func.count()).select_from(model))


def _texts(mock, channel="C1") -> list[str]:
    return [c.params.get("text", "") for c in mock.posts(channel)]


def test_mention_with_video_starts_a_conversation_in_its_thread(run, mock_slack, clip):
    video = mock_slack.host_file("holiday.mp4", clip)
    event = mention("something calm", files=[video])
    assert run.slack.event(event, event_id="EvMention")[0] == 200
    run.settle()

    (conv,) = _rows(run.service)
    assert (conv.platform, conv.workspace_id, conv.channel_id, conv.user_id) == ("slack", "T1", "C1", "U1")
    assert conv.thread_id == f"C1:{event['ts']}"
    (turn,) = _rows(run.service, Turn)
    assert turn.feedback_text == "something calm"  # the mention itself is not part of the note
    assert run.service.dispatcher.submitted == [turn.id]
    # "listening…" went into the thread at once, and the file was fetched with the bot token.
    (listening,) = mock_slack.posts()
    assert listening.params["thread_ts"] == event["ts"] and "Listening" in listening.params["text"]
    assert [tok for _, tok in mock_slack.downloads] == [BOT_TOKEN]
    assert turn.id in run.bot.deliverer._watched


def test_thread_reply_is_the_next_turn(run, mock_slack, clip):
    event = mention(files=[mock_slack.host_file("a.mp4", clip)])
    run.slack.event(event)
    run.settle()
    run.slack.event(message("calmer, no vocals", thread_ts=event["ts"]))
    run.settle()
    turns = _rows(run.service, Turn)
    assert [(t.index, t.feedback_text) for t in turns] == [(0, None), (1, "calmer, no vocals")]
    assert turns[1].filters == {"instrumental_only": True}
    # Turn 1 is still queued (no worker here), so the reply says it waits its turn.
    assert "right after" in _texts(mock_slack)[-1]
    # Chatter outside any conversation's thread, and top-level channel messages, are left alone.
    run.slack.event(message("unrelated", thread_ts=next_ts()))
    run.slack.event(message("hello all"))
    run.settle()
    assert len(_rows(run.service, Turn)) == 2 and len(mock_slack.posts()) == 2


def test_message_and_app_mention_of_one_message_make_one_conversation(run, mock_slack, clip):
    video = mock_slack.host_file("a.mp4", clip)
    ev = mention(files=[video])
    # Slack sends both events (different event ids) for a message that mentions the app.
    run.slack.event({**ev, "type": "message", "channel_type": "channel", "subtype": "file_share"})
    run.slack.event(ev)
    run.settle()
    assert len(_rows(run.service)) == 1


@pytest.mark.parametrize("how", ["retries while working", "retry after a restart"])
def test_retries_of_one_event_make_one_turn(run, serve, recorded_service, mock_slack, clip, how):
    event = mention(files=[mock_slack.host_file("a.mp4", clip)])
    assert run.slack.event(event, event_id="EvSame")[0] == 200
    if how == "retries while working":
        for n in (1, 2, 3):
            assert run.slack.event(event, event_id="EvSame", retry_num=n)[0] == 200
        run.settle()
    else:
        run.settle()
        restarted = serve(recorded_service)  # a fresh process: nothing in memory, same database
        assert restarted.slack.event(event, event_id="EvSame", retry_num=1)[0] == 200
        restarted.settle()
    assert _count(run.service, Turn) == 1 and len(run.service.dispatcher.submitted) == 1
    # At most one "listening…" stays in the thread (a late duplicate removes its own).
    live = [k for k, m in mock_slack.messages.items() if "Listening" in m.get("text", "")]
    assert len(live) == 1


def test_dm_with_video_and_follow_up(run, mock_slack, clip):
    run.slack.event(message(files=[mock_slack.host_file("dm.mp4", clip)], channel="D1", channel_type="im"))
    run.settle()
    (conv,) = _rows(run.service)
    assert conv.thread_id == "D1"
    (listening,) = mock_slack.posts("D1")
    assert listening.params.get("thread_ts") is None  # answered in the DM itself
    run.slack.event(message("faster please", channel="D1", channel_type="im"))
    run.settle()
    assert [t.feedback_text for t in _rows(run.service, Turn)] == [None, "faster please"]


def test_message_shortcut_recommends_for_that_message(run, mock_slack, clip):
    ts = next_ts()
    msg = {"type": "message", "ts": ts, "user": "U9", "text": "our trailer",
           "files": [mock_slack.host_file("trailer.mp4", clip)]}
    status, _ = run.slack.shortcut(msg, user="U2")
    assert status == 200
    run.settle()
    (conv,) = _rows(run.service)
    assert conv.thread_id == f"C1:{ts}" and conv.user_id == "U2"
    assert mock_slack.posts()[0].params["thread_ts"] == ts


def test_files_info_fills_in_what_the_event_left_out(run, mock_slack, clip):
    bare = mock_slack.host_file("a.mp4", clip, details=False)
    run.slack.event(mention(files=[bare]))
    run.settle()
    assert [c.params["file"] for c in mock_slack.calls_to("files.info")] == [bare["id"]]
    assert len(_rows(run.service)) == 1


# --- bad input: a short friendly reply in the thread, nothing stored -----------------------------

def _friendly_reply(run, mock_slack, event) -> str:
    run.slack.event(event)
    run.settle()
    texts = [m.get("text", "") for m in mock_slack.messages.values()]
    assert len(texts) == 1, texts
    assert _count(run.service, Conversation) == 0 and _count(run.service, Video) == 0
    assert not list(run.bot.settings.media_dir.rglob("*.*")) if run.bot.settings.media_dir.exists() else True
    return texts[0]


@pytest.mark.parametrize("kind", ["html page", "token not accepted"])
def test_html_instead_of_media_is_reported_not_decoded(run, mock_slack, clip, kind):
    f = mock_slack.host_file("a.mp4", clip, html=kind == "html page")
    if kind == "token not accepted":
        mock_slack.file_tokens = set()  # redirected to the sign-in page, as slack.com does
    text = _friendly_reply(run, mock_slack, mention(files=[f]))
    assert "sign-in page" in text


def test_non_video_file(run, mock_slack):
    f = mock_slack.host_file("notes.txt", b"just text", mimetype="text/plain", filetype="text")
    assert "isn't a video" in _friendly_reply(run, mock_slack, mention(files=[f]))
    assert mock_slack.downloads == []


def test_oversized_file_is_refused_before_downloading(run, mock_slack, clip):
    f = mock_slack.host_file("big.mp4", clip, size=5 * 1024 * 1024)  # the limit here is 1 MB
    text = _friendly_reply(run, mock_slack, mention(files=[f]))
    assert "too large" in text and "1 MB" in text
    assert mock_slack.downloads == []


def test_file_larger_than_its_metadata_is_cut_off(run, mock_slack):
    f = mock_slack.host_file("liar.mp4", b"\0" * (1024 * 1024 + 10), size=1000)
    assert "too large" in _friendly_reply(run, mock_slack, mention(files=[f]))
    assert not list((run.bot.settings.data_dir / "incoming").glob("*"))  # the partial download is gone


def test_mention_without_a_video_gets_a_hint(run, mock_slack):
    assert "Send me a video" in _friendly_reply(run, mock_slack, mention("hi there"))
