"""A bot restart loses nothing and doubles nothing: buttons posted by the old process work
in the new one, results that finished while no bot ran are posted once, and picks posted
early (before the explanations) are completed in place, not posted again."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from core.config import get_settings
from core.conversation.service import ConversationService
from core.db.models import Turn, utcnow
from core.db.session import session_scope
from tests.bots.discord.harness import Harness

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


async def _latest_turn(service: ConversationService, thread_id: str):
    conversation_id = await asyncio.to_thread(service.find_conversation, "discord", thread_id)
    turns = await asyncio.to_thread(service.conversation, conversation_id)
    return turns[-1]


async def restart_recovery(h: Harness) -> None:
    service = ConversationService(get_settings())
    msg = await h.fake.user_message(h.alice, h.channel, attachments=[h.video("harbour.mp4")], mention_bot=True)
    thread = await h.fake.wait_for(lambda: h.fake.threads.get(int(msg["id"])), 10, "the thread")
    early = (await h.wait_picks(thread["id"], explained=False, timeout=180))[0]

    # The bot goes away while the explanations are being written…
    await h.stop_bot()
    turn = await _latest_turn(service, thread["id"])
    finished = await asyncio.to_thread(service.wait, turn.turn_id, 180)
    assert finished.finished
    recovering = not finished.delivered  # the old process had not completed it before stopping
    before = len(h.fake.requests)

    # …and a new process completes the same message instead of posting the picks again.
    await h.start_bot()
    done = await h.wait_picks(thread["id"])
    assert [m["id"] for m in done] == [early["id"]]
    assert "writing why" not in str(done[0]["embeds"])
    if recovering:  # it found the early message in the thread's history
        assert ("GET", f"/channels/{thread['id']}/messages") in h.fake.requests[before:]

    # A button on the message the old process posted works in the new one.
    more = await h.fake.click(h.alice, done[0], h.button(done[0], "more", 1))
    assert "more like #1" in (await h.answered(more))["data"]["content"]
    turn2 = await _latest_turn(service, thread["id"])
    assert turn2.index == 1

    # Turn 2 finishes while no bot runs, and a process that claimed it died before posting
    # (its claim is left open): once the lease has run out, the next process posts it, once.
    await h.stop_bot()
    assert (await asyncio.to_thread(service.wait, turn2.turn_id, 180)).finished
    [claimed] = await asyncio.to_thread(service.claim_deliveries, "discord")
    assert claimed.turn_id == turn2.turn_id
    with session_scope() as s:
        s.execute(update(Turn).where(Turn.id == turn2.turn_id)
                  .values(delivered_at=utcnow() - timedelta(seconds=get_settings().delivery_lease_s + 1)))
    await h.start_bot()
    await h.wait_picks(thread["id"], 2)
    await asyncio.sleep(1.0)  # several delivery rounds: nothing more may appear
    assert len(h.picks_messages(thread["id"])) == 2
    with session_scope() as s:
        assert s.get(Turn, turn2.turn_id).posted_at is not None


def test_restart_keeps_buttons_and_delivers_once(end_to_end):
    end_to_end(restart_recovery)
