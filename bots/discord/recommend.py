"""Starting a conversation: ``/recommend video:<file> [note]``, a message that mentions the
bot with a video (any message with a video in DMs), and the "Recommend music" menu on
a message with a video.

Each answers at once (a deferred "thinking…" or a "listening…" message), opens a thread,
downloads the attachment here — its URL dies with the message, and the size is checked
from the attachment's metadata first — and hands the bytes to the conversation service,
which stores them and queues the job. The picks arrive later through ``delivery``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import PurePath
from typing import TYPE_CHECKING

import aiohttp
import discord
from discord import app_commands

from bots.discord.replies import reply_to, say
from bots.discord.server_config import admit
from core.errors import FileTooLarge, UnsupportedMedia, UserError

if TYPE_CHECKING:
    from bots.discord.bot import MuseChatBot

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".gif", ".mpg", ".mpeg", ".ogv", ".3gp", ".wmv"}
THREAD_EXISTS = 160004  # Discord: "A thread has already been created for this message"
DOWNLOAD_FAILED = "I couldn't download that file from Discord. Please try again."
DOWNLOAD_TIMEOUT_S = 120.0
LISTENING = "🎧"
NO_VIDEO = "Attach a video to your message (or use `/recommend`) and I'll suggest music for it."


def looks_like_video(attachment: discord.Attachment) -> bool:
    kind = (attachment.content_type or "").split(";")[0].strip().lower()
    if kind:
        return kind.startswith("video/") or kind == "image/gif"
    return PurePath(attachment.filename).suffix.lower() in VIDEO_SUFFIXES


def check_attachment(attachment: discord.Attachment, limit_mb: float) -> None:
    """Refuse what is not a video or is too large, from the metadata alone (nothing downloaded)."""
    if not looks_like_video(attachment):
        raise UnsupportedMedia(f"not a video: {attachment.filename} ({attachment.content_type})")
    if attachment.size > limit_mb * 1024 * 1024:
        raise FileTooLarge(f"{attachment.size} bytes", limit_mb=limit_mb)


def thread_name(filename: str) -> str:
    stem = PurePath(filename).stem.replace("_", " ").strip() or "your video"
    return f"🎵 Music for {stem}"[:100]


def listening_text(filename: str, in_thread: bool) -> str:
    where = "I'll post the picks here." if in_thread else "I'll post the picks in this channel."
    return f"🎧 Listening to **{discord.utils.escape_markdown(filename)}**… {where}"


def strip_mentions(text: str) -> str:
    return re.sub(r"<@!?\d+>", "", text or "").strip()


async def open_thread(bot: MuseChatBot, message: discord.Message, name: str) -> discord.Thread | None:
    """A public thread from ``message``, or the one it already has; None where threads can't be made."""
    if not isinstance(message.channel, discord.TextChannel):
        return None
    try:
        return await message.create_thread(name=name, auto_archive_duration=1440)
    except discord.HTTPException as exc:
        if exc.code == THREAD_EXISTS:
            # A thread started from a message has the message's id.
            existing = message.guild and message.guild.get_thread(message.id)
            if existing is not None:
                return existing
            try:
                channel = await bot.fetch_channel(message.id)
            except discord.HTTPException:
                return None
            return channel if isinstance(channel, discord.Thread) else None
        if isinstance(exc, discord.Forbidden):
            log.info("no permission to open a thread in channel %s; answering in the channel", message.channel.id)
            return None
        raise


async def begin(bot: MuseChatBot, *, attachment: discord.Attachment, user: discord.abc.User,
                guild_id: int | None, channel: discord.abc.Messageable, place: discord.abc.Messageable,
                event_id: str, note: str | None, announce: str | None = None) -> bool:
    """Download ``attachment`` and start its conversation in ``place`` (a thread, or the
    channel itself); ``announce`` is said there once the turn is queued. Problems are told
    in ``place``. Returns whether a turn was queued."""
    try:
        data = await asyncio.wait_for(attachment.read(), DOWNLOAD_TIMEOUT_S)
    except (discord.HTTPException, aiohttp.ClientError, asyncio.TimeoutError, OSError):
        log.warning("download of attachment %s failed", attachment.id, exc_info=True)
        await say(place, DOWNLOAD_FAILED)
        return False
    try:
        handle = await asyncio.to_thread(
            bot.service.start, data, platform="discord", user_id=str(user.id),
            workspace_id=str(guild_id) if guild_id else None, channel_id=str(getattr(channel, "id", "")) or None,
            thread_id=str(place.id), user_name=str(user)[:200], event_id=event_id,  # type: ignore[attr-defined]
            filename=attachment.filename, note=note)
    except UserError as exc:
        await say(place, exc.user_message)
        return False
    if not handle.created:
        return False  # the same event was handled before (another process, or before a restart)
    bot.remember_starter(handle.conversation_id, str(user.id))
    bot.conversation_threads.add(place.id)  # type: ignore[attr-defined]
    if announce:
        await say(place, announce)
    bot.delivery.watch(handle.turn_id)
    if not handle.dispatched:
        await say(place, "My workers are busy right now; your video is saved and I'll answer when they're back.")
    return True


async def _refuse(bot: MuseChatBot, guild_id: int | None, channel, user_id: int,
                  attachment: discord.Attachment | None, no_video: str = NO_VIDEO) -> str | None:
    """What stops this request before any download: place, rate limit, file type or size."""
    if attachment is None:
        return no_video
    try:
        settings = await bot.server_settings.get(guild_id)
        check_attachment(attachment, bot.upload_limit_mb(settings))
    except UserError as exc:
        return exc.user_message
    return await admit(bot, guild_id, channel, user_id)


def _video_of(attachments: list[discord.Attachment]) -> discord.Attachment | None:
    return next((a for a in attachments if looks_like_video(a)), attachments[0] if attachments else None)


# --- /recommend and the message menu --------------------------------------------------------

async def _from_interaction(interaction: discord.Interaction, attachment: discord.Attachment | None,
                            note: str | None, source: discord.Message | None) -> None:
    bot: MuseChatBot = interaction.client  # type: ignore[assignment]
    if not bot.first_time(str(interaction.id)):
        return
    problem = await _refuse(bot, interaction.guild_id, interaction.channel, interaction.user.id, attachment,
                            "That message has no video attached." if source is not None else NO_VIDEO)
    if problem:
        await interaction.response.send_message(problem, ephemeral=True)
        return
    assert attachment is not None
    await interaction.response.defer(thinking=True)
    channel = interaction.channel
    thread = None
    if isinstance(channel, discord.Thread):
        thread = channel  # asked inside a thread: the conversation lives there
    elif interaction.guild is not None and isinstance(channel, discord.TextChannel):
        if source is not None:  # the menu: a thread on the message with the video
            thread = await open_thread(bot, source, thread_name(attachment.filename))
        if thread is None:
            thread = await open_thread(bot, await interaction.original_response(), thread_name(attachment.filename))
    where = f" — picks coming in {thread.mention}" if thread is not None and thread != channel else ""
    quoted = f"\n> {discord.utils.escape_markdown(note[:300])}" if note else ""
    await interaction.edit_original_response(
        content=f"🎧 Listening to **{discord.utils.escape_markdown(attachment.filename)}**…{where}{quoted}")
    place = thread or channel
    await begin(bot, attachment=attachment, user=interaction.user, guild_id=interaction.guild_id,
                channel=channel, place=place, event_id=str(interaction.id), note=note)  # type: ignore[arg-type]


@app_commands.describe(video="The video to find music for (mp4, webm, mov, mkv, GIF)",
                       note="Anything I should know, e.g. \"calm, no vocals\"")
async def recommend_command(interaction: discord.Interaction, video: discord.Attachment,
                            note: app_commands.Range[str, 1, 1000] | None = None) -> None:
    await _from_interaction(interaction, video, note, None)


async def recommend_menu(interaction: discord.Interaction, message: discord.Message) -> None:
    await _from_interaction(interaction, _video_of(message.attachments), None, message)


# --- a mention with a video (or any video in DMs) --------------------------------------------

async def on_message(bot: MuseChatBot, message: discord.Message) -> None:
    if message.author.bot or message.webhook_id or message.type not in (discord.MessageType.default,
                                                                          discord.MessageType.reply):
        return
    in_dm = message.guild is None
    if isinstance(message.channel, discord.Thread):
        return  # a reply in a thread is feedback (``threads``)
    if in_dm and not message.attachments:
        return  # DM text is feedback on the latest DM conversation (``threads``)
    if not in_dm and (bot.user is None or bot.user not in message.mentions):
        return
    if not bot.first_time(str(message.id)):
        return
    attachment = _video_of(message.attachments)
    problem = await _refuse(bot, message.guild.id if message.guild else None, message.channel,
                            message.author.id, attachment)
    if problem:
        await reply_to(message, problem)
        return
    assert attachment is not None
    # The first answers are ones a re-sent event cannot double: a reaction, and the
    # message's one thread. "Listening…" is said once the service has taken the upload.
    try:
        await message.add_reaction(LISTENING)
    except discord.HTTPException:
        log.info("could not react to message %s", message.id)
    thread = None if in_dm else await open_thread(bot, message, thread_name(attachment.filename))
    place = thread or message.channel
    await begin(bot, attachment=attachment, user=message.author, guild_id=message.guild.id if message.guild else None,
                channel=message.channel, place=place, event_id=str(message.id),
                note=strip_mentions(message.content) or None,
                announce=listening_text(attachment.filename, thread is not None))


def register(bot: MuseChatBot) -> None:
    bot.tree.add_command(app_commands.Command(
        name="recommend", description="Music picks for a video", callback=recommend_command))
    bot.tree.add_command(app_commands.ContextMenu(name="Recommend music", callback=recommend_menu))

    async def listener(message: discord.Message) -> None:
        await on_message(bot, message)

    bot.add_listener(listener, "on_message")
