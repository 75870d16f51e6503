"""A text reply in a conversation's thread (or, in DMs, to the latest conversation) is its
next turn: "more upbeat, no vocals" refines the picks.

Reading a reply needs the privileged ``message_content`` intent in servers; without it
Discord hands the bot empty replies, so the bot says once per thread to use "Refine…".
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord

from bots.discord.recommend import strip_mentions
from bots.discord.replies import NOT_YOURS, reply_to
from bots.discord.server_config import admit
from core.errors import UserError

if TYPE_CHECKING:
    from bots.discord.bot import MuseChatBot

log = logging.getLogger(__name__)

NO_CONTENT_HINT = ("I can't read replies in threads on this server. Press **Refine…** under the picks to "
                   "tell me what to change.")
DM_HINT = "Send me a video and I'll suggest music for it."


def refining_text(feedback: str) -> str:
    shown = discord.utils.escape_markdown(feedback[:200]) + ("…" if len(feedback) > 200 else "")
    return f"🔁 Refining: “{shown}”"


async def on_message(bot: MuseChatBot, message: discord.Message) -> None:
    if message.author.bot or message.webhook_id or message.type not in (discord.MessageType.default,
                                                                          discord.MessageType.reply):
        return
    channel = message.channel
    in_dm = isinstance(channel, discord.DMChannel)
    if in_dm:
        if message.attachments:
            return  # a new video (``recommend``)
    elif not isinstance(channel, discord.Thread) or not _ours(bot, channel):
        return
    text = strip_mentions(message.content)
    if not text:
        if not in_dm and not bot.intents.message_content and channel.id not in bot.hinted_threads:
            bot.hinted_threads.add(channel.id)
            await reply_to(message, NO_CONTENT_HINT)
        return
    if not bot.first_time(str(message.id)):
        return
    conversation_id = await asyncio.to_thread(bot.service.find_conversation, "discord", str(channel.id))
    if conversation_id is None:
        if in_dm:
            await reply_to(message, DM_HINT)
        return
    guild_id = message.guild.id if message.guild else None
    try:
        if not await bot.may_refine(message.author.id, guild_id, conversation_id):
            await reply_to(message, NOT_YOURS)
            return
        problem = await admit(bot, guild_id, channel, message.author.id)
        if problem:
            await reply_to(message, problem)
            return
        handle = await asyncio.to_thread(bot.service.reply, conversation_id, text, event_id=str(message.id))
    except UserError as exc:  # empty feedback, a deleted conversation
        await reply_to(message, exc.user_message)
        return
    if not handle.created:
        return
    bot.delivery.watch(handle.turn_id)
    await reply_to(message, refining_text(text) + (f"\n{handle.notice}" if handle.notice else ""))


def _ours(bot: MuseChatBot, thread: discord.Thread) -> bool:
    # Threads the bot opened, or where this process started a conversation: no database
    # lookup for chatter in every other thread of the server.
    return (bot.user is not None and thread.owner_id == bot.user.id) or thread.id in bot.conversation_threads


def register(bot: MuseChatBot) -> None:
    async def listener(message: discord.Message) -> None:
        await on_message(bot, message)

    bot.add_listener(listener, "on_message")
