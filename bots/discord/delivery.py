"""Posting results into their threads, each finished turn exactly once.

One asyncio task polls the conversation service (every call in a thread):

* turns this process queued are watched; once their picks are stored (the worker writes
  picks first, explanations after) the picks embed and its buttons are posted, with a
  placeholder where the explanations will go;
* finished turns are taken with ``claim_deliveries("discord")`` — a claim is one database
  update, so exactly one bot process gets each turn, also turns that finished while no
  bot was running — and the picks message is edited to add the explanations, or posted
  whole. A turn this process did not watch may have been posted early by a process that
  has since restarted: its thread's recent messages are checked for that message (found
  by the pick ids in its buttons) before posting, so a restart never posts picks twice.

Posts are normal bot messages, never the 15-minute interaction token. A post that fails
for a passing reason (Discord 5xx, network) is released back to the service and tried
again after a pause; one that cannot succeed (thread deleted, no access) is logged and
dropped. Either way the claim ends (``finish_delivery``); a claim a crashed process left
open is offered again after ``MUSECHAT_DELIVERY_LEASE_S``, and the check for an earlier
picks message keeps that from posting twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING

import aiohttp
import discord

from bots.discord.picks import failure_text, no_picks_text, picks_embed, picks_view
from core.conversation.service import ConversationNotFound, TurnView

if TYPE_CHECKING:
    from bots.discord.bot import MuseChatBot

log = logging.getLogger(__name__)

BATCH = 20
# How far back in a thread to look for picks posted before a restart.
HISTORY_LIMIT = 30
# Stop watching a turn for early picks after this long; it is still delivered when it ends.
WATCH_FOR_S = 3600.0
MAX_PAUSE_S = 60.0
# On shutdown the round in progress may finish (a claimed turn is posted, not dropped).
STOP_GRACE_S = 10.0
TRANSIENT = (discord.DiscordServerError, aiohttp.ClientError, asyncio.TimeoutError, OSError)


class Delivery:
    def __init__(self, bot: MuseChatBot, *, poll_s: float = 0.5):
        self.bot = bot
        self.poll_s = poll_s
        self._watched: dict[int, float] = {}  # turn id -> since (monotonic)
        self._posted: dict[int, tuple[int, int]] = {}  # turn id -> (channel id, message id) of early picks
        self._task: asyncio.Task | None = None
        self._stopping = asyncio.Event()
        self._pause_s = 0.0
        self._transient_failure = False
        self.delivered = 0

    def watch(self, turn_id: int) -> None:
        """Post this turn's picks as soon as they are stored (before the explanations)."""
        self._watched[turn_id] = time.monotonic()

    def start(self) -> None:
        if self._task is None:
            self._stopping = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="musechat-delivery")

    async def stop(self) -> None:
        """Let the round in progress finish (within :data:`STOP_GRACE_S`), then stop polling."""
        if self._task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_GRACE_S)
        except asyncio.TimeoutError:
            log.warning("delivery did not finish its round within %.0f s; stopping it", STOP_GRACE_S)
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._task = None

    async def _run(self) -> None:
        ready = asyncio.ensure_future(self.bot.wait_until_ready())
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait([ready, stopping], return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        while not self._stopping.is_set():
            self._transient_failure = False
            try:
                await self.tick()
            except Exception:  # e.g. the database restarting: keep polling, a little slower
                log.exception("delivery poll failed")
                self._transient_failure = True
            # Discord or the database having trouble: back off; else poll at the normal pace.
            self._pause_s = min(MAX_PAUSE_S, max(1.0, self._pause_s * 2)) if self._transient_failure else 0.0
            try:
                await asyncio.wait_for(asyncio.shield(stopping), max(self.poll_s, self._pause_s))
            except asyncio.TimeoutError:
                pass
        stopping.cancel()

    async def tick(self) -> None:
        """One round: early picks for watched turns, then every claimable finished turn."""
        await self._early_picks()
        while True:
            views = await asyncio.to_thread(self.bot.service.claim_deliveries, "discord", BATCH)
            if not views:
                return
            by_place: dict[str, list[TurnView]] = defaultdict(list)
            for v in views:
                by_place[v.thread_id or v.channel_id or ""].append(v)
            # Places in parallel; within one thread, turns in the order they finished.
            await asyncio.gather(*(self._deliver_all(vs) for vs in by_place.values()))
            if len(views) < BATCH:
                return

    async def _early_picks(self) -> None:
        now = time.monotonic()
        for turn_id in [t for t, since in self._watched.items() if now - since > WATCH_FOR_S]:
            del self._watched[turn_id]
        todo = [t for t in self._watched if t not in self._posted]
        if not todo:
            return
        views = await asyncio.to_thread(self._peek, todo)
        for turn_id, view in views:
            if view is None or (view.delivered and turn_id not in self._posted):
                self._watched.pop(turn_id, None)  # deleted (forget-me), or another process took it
                continue
            if view.finished or not view.picks:
                continue  # finished ones are claimed below
            channel = self._place(view)
            if channel is None:
                continue
            try:
                msg = await channel.send(content=self._greeting(view), embed=picks_embed(view, explanations_pending=True),
                                         view=picks_view(view), allowed_mentions=self._ping(view))
            except discord.HTTPException:
                log.warning("could not post early picks of turn %s", view.turn_id, exc_info=True)
                continue
            self._posted[view.turn_id] = (channel.id, msg.id)

    def _peek(self, turn_ids: list[int]) -> list[tuple[int, TurnView | None]]:
        """Each turn's current state (None when deleted); runs in a thread."""
        views = []
        for turn_id in turn_ids:
            try:
                views.append((turn_id, self.bot.service.get_turn(turn_id)))
            except ConversationNotFound:
                views.append((turn_id, None))
        return views

    async def _deliver_all(self, views: list[TurnView]) -> None:
        for v in views:
            await self.deliver(v)

    async def deliver(self, view: TurnView) -> None:
        """Post (or complete) one claimed turn; release it when the failure may pass."""
        watched = self._watched.pop(view.turn_id, None) is not None
        early = self._posted.pop(view.turn_id, None)
        channel = self._place(view)
        if channel is None:
            log.warning("turn %s has no Discord place to post in (%r); dropped", view.turn_id, view.thread_id)
            await asyncio.to_thread(self.bot.service.finish_delivery, view.turn_id)
            return
        transient = False
        try:
            if view.status == "failed":
                if early and view.picks:  # picks were shown: drop their "writing why…" placeholder
                    await channel.get_partial_message(early[1]).edit(embed=picks_embed(view))
                await channel.send(failure_text(view))
            elif not view.picks:
                await channel.send(no_picks_text(view))
            else:
                message_id = early[1] if early else None
                if message_id is None and not watched:
                    message_id = await self._posted_before(channel, view)
                embed = picks_embed(view)
                if message_id is not None:
                    await channel.get_partial_message(message_id).edit(embed=embed)
                else:
                    await channel.send(content=self._greeting(view), embed=embed, view=picks_view(view),
                                       allowed_mentions=self._ping(view))
            self.delivered += 1
        except (discord.NotFound, discord.Forbidden) as exc:
            log.warning("turn %s cannot be posted in %s (%s); dropped", view.turn_id, channel.id, exc.text)
        except TRANSIENT as exc:
            log.warning("posting turn %s failed (%s); will try again", view.turn_id, exc)
            if early:
                self._posted[view.turn_id] = early
            await asyncio.to_thread(self.bot.service.release_delivery, view.turn_id)
            self._transient_failure = transient = True
        except discord.HTTPException:
            log.exception("Discord refused turn %s's message; dropped", view.turn_id)
        if not transient:  # posted, or dropped for good: the claim ends here
            await asyncio.to_thread(self.bot.service.finish_delivery, view.turn_id)

    async def _posted_before(self, channel: discord.PartialMessageable, view: TurnView) -> int | None:
        """The id of this turn's picks message if one was posted before (e.g. before a restart)."""
        mine = f":{view.picks[0].pick_id}:"
        async for msg in channel.history(limit=HISTORY_LIMIT):
            if self.bot.user is None or msg.author.id != self.bot.user.id:
                continue
            for row in msg.components:
                for item in getattr(row, "children", []):
                    if mine in (getattr(item, "custom_id", None) or ""):
                        return msg.id
        return None

    def _place(self, view: TurnView) -> discord.PartialMessageable | None:
        target = view.thread_id or view.channel_id
        if not target or not target.isdigit():
            return None
        return self.bot.get_partial_messageable(int(target))

    @staticmethod
    def _greeting(view: TurnView) -> str | None:
        return f"<@{view.user_id}>" if view.index == 0 and view.user_id.isdigit() else None

    @staticmethod
    def _ping(view: TurnView) -> discord.AllowedMentions:
        # Only the requester is pinged (the first picks may take a while); never anyone else.
        users = [discord.Object(int(view.user_id))] if view.user_id.isdigit() else False
        return discord.AllowedMentions(everyone=False, roles=False, users=users, replied_user=False)
