"""The Discord side of the bot, on the real conversation service (SQLite; the jobs are
recorded, not run): bad input, duplicate events, replies without the message-content
intent, server settings and who may change them, and forget-me."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select

from core.db.models import AuditLog, Conversation, Turn, WorkspaceSettings
from core.db.session import session_scope
from tests.bots.discord.fake_discord import EPHEMERAL, MANAGE_GUILD, MEMBER_PERMISSIONS
from tests.bots.discord.harness import Harness

ADMIN = MEMBER_PERMISSIONS | MANAGE_GUILD


def _turns(url: str) -> int:
    with session_scope(url) as s:
        return s.scalar(select(func.count()).select_from(Turn))


def _ephemeral_text(response: dict) -> str:
    assert response["type"] == 4 and response["data"]["flags"] & EPHEMERAL, response
    return response["data"]["content"]


def test_bad_input_gets_a_short_friendly_answer(recorded):
    url = recorded.service().url

    async def scenario(h: Harness) -> None:
        cid = int(h.channel["id"])
        text = h.fake.attachment("notes.txt", b"just words", content_type="text/plain", channel_id=cid)
        huge = h.fake.attachment("huge.mp4", b"\x00" * 64, size=50 * 1024 * 1024, channel_id=cid)

        # /recommend: refused privately from the attachment's metadata, nothing downloaded.
        inter = await h.fake.slash_command(h.alice, h.channel, "recommend", {"video": text})
        assert "isn't a video" in _ephemeral_text(await h.answered(inter))
        inter = await h.fake.slash_command(h.alice, h.channel, "recommend", {"video": huge})
        assert "too large" in _ephemeral_text(await h.answered(inter)) and "2 MB" in inter.response["data"]["content"]

        # A mention: a short reply to the message.
        await h.fake.user_message(h.alice, h.channel, "what fits?", attachments=[text], mention_bot=True)
        await h.wait_said(h.channel["id"], "isn't a video")
        await h.fake.user_message(h.alice, h.channel, "", attachments=[huge], mention_bot=True)
        await h.wait_said(h.channel["id"], "too large for me")
        await h.fake.user_message(h.alice, h.channel, "hello", mention_bot=True)
        await h.wait_said(h.channel["id"], "Attach a video")
        # The menu on a message without a video.
        plain = await h.fake.user_message(h.bob, h.channel, "no video here")
        inter = await h.fake.message_command(h.alice, plain)
        assert "no video attached" in _ephemeral_text(await h.answered(inter))
        assert not h.fake.cdn_downloads and not h.fake.threads and _turns(url) == 0

        # The attachment's URL died before the download: said in the thread.
        gone = h.video("gone.mp4")
        h.fake.cdn.clear()
        inter = await h.fake.slash_command(h.alice, h.channel, "recommend", {"video": gone})
        await h.answered(inter)
        thread_id = await h.fake.wait_for(lambda: inter.original_message_id in h.fake.threads
                                          and inter.original_message_id, 10, "the thread")
        await h.wait_said(thread_id, "couldn't download")
        assert _turns(url) == 0

        # The bot keeps going: a good video after all that starts a conversation.
        good = h.video("good.mp4")
        t0 = time.perf_counter()
        inter = await h.fake.slash_command(h.alice, h.channel, "recommend", {"video": good})
        assert (await h.answered(inter, 1.0))["type"] == 5
        assert time.perf_counter() - t0 < 1.0  # the bot answers within a second
        await h.fake.wait_for(lambda: recorded.dispatcher.submitted, 10, "a queued turn")
        assert _turns(url) == 1

    recorded(scenario)


def test_duplicate_events_make_one_turn(recorded):
    url = recorded.service().url

    async def scenario(h: Harness) -> None:
        msg = await h.fake.user_message(h.alice, h.channel, "sunny", attachments=[h.video("sun.mp4")],
                                        mention_bot=True)
        await h.fake.dispatch("MESSAGE_CREATE", msg)  # the gateway sends it again (e.g. replayed on RESUME)
        thread = await h.fake.wait_for(lambda: h.fake.threads.get(int(msg["id"])), 10, "the thread")
        await h.wait_said(thread["id"], "Listening")

        # The same slash command twice.
        inter = await h.fake.slash_command(h.alice, h.channel, "recommend", {"video": h.video("rain.mp4")})
        await h.fake.send_interaction(inter)
        await h.fake.wait_for(lambda: len(recorded.dispatcher.submitted) == 2, 10, "two queued turns")

        # A new process (nothing remembered in memory) gets the same events again.
        await h.restart()
        await h.fake.dispatch("MESSAGE_CREATE", msg)
        await h.fake.send_interaction(inter)
        await asyncio.sleep(1.0)
        assert len(recorded.dispatcher.submitted) == 2 and _turns(url) == 2
        assert len([c for c in h.said(thread["id"]) if "Listening" in c]) == 1
        assert len(h.fake.threads) == 2 and len(inter.responses) == 1

    recorded(scenario)


def test_thread_replies_need_the_message_content_intent(recorded):
    async def scenario(h: Harness) -> None:
        msg = await h.fake.user_message(h.alice, h.channel, attachments=[h.video("dog.mp4")], mention_bot=True)
        thread = await h.fake.wait_for(lambda: h.fake.threads.get(int(msg["id"])), 10, "the thread")
        await h.fake.wait_for(lambda: recorded.dispatcher.submitted, 10, "the first turn")
        # Without the intent Discord hands the bot an empty reply: it points to Refine…, once.
        await h.fake.user_message(h.alice, thread, "more drums")
        await h.wait_said(thread["id"], "Press **Refine…**")
        await h.fake.user_message(h.alice, thread, "and faster")
        await asyncio.sleep(0.5)
        assert len([c for c in h.said(thread["id"]) if "Refine…" in c]) == 1
        assert len(recorded.dispatcher.submitted) == 1

    recorded(scenario)


def test_server_settings_need_manage_server_and_apply(recorded):
    url = recorded.service().url

    async def scenario(h: Harness) -> None:
        # A member without Manage Server cannot change anything.
        inter = await h.fake.slash_command(h.bob, h.channel, "musechat", {"turns_per_hour": 0}, subcommand="config")
        assert "Manage Server" in _ephemeral_text(await h.answered(inter))
        with session_scope(url) as s:
            assert s.scalar(select(func.count()).select_from(WorkspaceSettings)) == 0

        # An admin limits MuseChat to #clips, one request an hour, 1 MB videos.
        inter = await h.fake.slash_command(h.alice, h.channel, "musechat", {
            "allow_channel": h.other_channel, "turns_per_hour": 1, "max_upload_mb": 1.0}, subcommand="config",
            permissions=ADMIN)
        shown = _ephemeral_text(await h.answered(inter))
        assert f"<#{h.other_channel['id']}>" in shown and "per hour: 1" in shown and "1 MB" in shown

        await h.fake.user_message(h.alice, h.channel, attachments=[h.video("a.mp4")], mention_bot=True)
        await h.wait_said(h.channel["id"], f"On this server I work in <#{h.other_channel['id']}>")
        big = h.fake.attachment("big.mp4", b"\x00" * 64, size=int(1.5 * 1024 * 1024), channel_id=0)
        inter = await h.fake.slash_command(h.alice, h.other_channel, "recommend", {"video": big})
        assert "up to 1 MB" in _ephemeral_text(await h.answered(inter))
        msg = await h.fake.user_message(h.alice, h.other_channel, attachments=[h.video("b.mp4")], mention_bot=True)
        thread = await h.fake.wait_for(lambda: h.fake.threads.get(int(msg["id"])), 10, "the thread")
        await h.wait_said(thread["id"], "Listening")
        inter = await h.fake.slash_command(h.alice, h.other_channel, "recommend", {"video": h.video("c.mp4")})
        assert "in the last hour" in _ephemeral_text(await h.answered(inter))

        # Shared threads: bob may refine alice's conversation only once the server allows it.
        inter = await h.fake.slash_command(h.alice, h.channel, "musechat", {"turns_per_hour": 0}, subcommand="config",
                                           permissions=ADMIN)
        await h.answered(inter)
        await h.fake.user_message(h.bob, thread, "jazzier")
        await h.wait_said(thread["id"], "Only the person who started")
        inter = await h.fake.slash_command(h.alice, h.channel, "musechat", {"shared_threads": True},
                                           subcommand="config", permissions=ADMIN)
        assert "Shared threads (anyone may refine anyone's picks): on" in _ephemeral_text(await h.answered(inter))
        await h.fake.user_message(h.bob, thread, "jazzier please")
        await h.wait_said(thread["id"], "Refining: “jazzier please”")

        # In DMs there is nothing to configure.
        inter = await h.fake.slash_command(h.alice, h.fake.dm_channel(h.alice), "musechat", {}, subcommand="config",
                                           permissions=ADMIN)
        assert "per server" in _ephemeral_text(await h.answered(inter))

    recorded(scenario, message_content=True)


def test_forget_me_deletes_after_confirmation(recorded):
    url = recorded.service().url

    async def scenario(h: Harness) -> None:
        for name, seconds in (("one.mp4", 1.0), ("two.mp4", 1.5)):  # different files: two videos
            msg = await h.fake.user_message(h.alice, h.channel, attachments=[h.video(name, seconds)],
                                            mention_bot=True)
            await h.fake.wait_for(lambda: h.fake.threads.get(int(msg["id"])), 10, "the thread")
        await h.fake.wait_for(lambda: len(recorded.dispatcher.submitted) == 2, 10, "two turns")
        theirs = await h.fake.user_message(h.bob, h.channel, attachments=[h.video("bob.mp4", 2.5)],
                                           mention_bot=True)
        await h.fake.wait_for(lambda: len(recorded.dispatcher.submitted) == 3, 10, "bob's turn")

        inter = await h.fake.slash_command(h.alice, h.channel, "musechat", {}, subcommand="forget-me")
        question = await h.answered(inter)
        assert "can't be undone" in _ephemeral_text(question)
        asked = h.fake.messages[inter.original_message_id]
        cancel = h.fake.find_button(asked, lambda c: c["label"] == "Cancel")["custom_id"]
        click = await h.fake.click(h.alice, asked, cancel)
        assert (await h.answered(click))["data"]["content"] == "Nothing was deleted."
        with session_scope(url) as s:
            assert s.scalar(select(func.count()).select_from(Conversation)) == 3

        inter = await h.fake.slash_command(h.alice, h.channel, "musechat", {}, subcommand="forget-me")
        await h.answered(inter)
        asked = h.fake.messages[inter.original_message_id]
        delete = h.fake.find_button(asked, lambda c: c["label"] == "Delete my data")["custom_id"]
        await h.fake.click(h.alice, asked, delete)
        await h.fake.wait_for(lambda: h.fake.messages[inter.original_message_id]["content"].startswith("Done."),
                              10, "the deletion report")
        assert "2 conversations, 2 videos" in h.fake.messages[inter.original_message_id]["content"]
        with session_scope(url) as s:
            left = s.scalars(select(Conversation.user_id)).all()
            assert left == [h.bob["id"]]  # bob's conversation stays
            assert s.scalar(select(AuditLog.action).where(AuditLog.target == f"user:discord:{h.alice['id']}")) \
                == "forget_user"
        assert h.fake.threads.get(int(theirs["id"])) is not None

    recorded(scenario)


def test_buttons_and_the_refine_form_work_across_a_restart(recorded):
    async def scenario(h: Harness) -> None:
        msg = await h.fake.user_message(h.alice, h.channel, attachments=[h.video("fox.mp4")], mention_bot=True)
        thread = await h.fake.wait_for(lambda: h.fake.threads.get(int(msg["id"])), 10, "the thread")
        await h.fake.wait_for(lambda: recorded.dispatcher.submitted, 10, "the first turn")
        conversation_id = h.bot.service.find_conversation("discord", thread["id"])
        # A Refine… button as a bot process posted it under the picks earlier.
        posted = h.fake._message(thread, h.fake.bot_user, content="", embeds=[{"title": "🎵 Music for your video"}],
                                 components=[{"type": 1, "components": [{
                                     "type": 2, "style": 3, "label": "Refine…",
                                     "custom_id": f"musechat:refine:{conversation_id}"}]}])
        await h.restart()
        opened = await h.fake.click(h.alice, posted, f"musechat:refine:{conversation_id}")
        form = await h.answered(opened)
        assert form["type"] == 9 and form["data"]["title"] == "Refine the picks"
        # The form is submitted after yet another restart: still answered.
        await h.restart()
        submitted = await h.fake.submit_modal(h.alice, opened, {"feedback": "more strings"})
        answer = await h.answered(submitted)
        assert answer["type"] == 4 and "Refining: “more strings”" in answer["data"]["content"]
        await h.fake.wait_for(lambda: len(recorded.dispatcher.submitted) == 2, 10, "the second turn")
        turns = h.bot.service.conversation(conversation_id)
        assert [t.feedback for t in turns] == [None, "more strings"]

    recorded(scenario)
