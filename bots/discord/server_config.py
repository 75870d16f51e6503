"""``/musechat config``: what a server's admins decide — where the bot works, how often
each member may ask, the largest upload, and whether anyone may refine anyone's picks.

Stored per guild in ``workspace_settings`` (no personal data). :func:`admit` is the one
gate every new turn passes: allowed channel, then the member's hourly budget.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from sqlalchemy import select

from core.db.models import WorkspaceSettings
from core.db.session import session_scope

if TYPE_CHECKING:
    from bots.discord.bot import MuseChatBot

log = logging.getLogger(__name__)

PLATFORM = "discord"
# Turns (new videos, replies, "more like this", refinements) a member may ask for per hour
# when the server has not chosen: enough for real use, not enough to flood the workers.
DEFAULT_TURNS_PER_HOUR = 30
WINDOW_S = 3600.0
# Settings are read on every request; a change made by another bot process shows within this.
CACHE_S = 30.0


@dataclass(frozen=True)
class ServerSettings:
    allowed_channels: tuple[int, ...] = ()
    turns_per_hour: int | None = None
    max_upload_mb: float | None = None
    shared_threads: bool = False

    def hourly_limit(self) -> int:
        """Turns per member per hour; 0 means no limit."""
        return DEFAULT_TURNS_PER_HOUR if self.turns_per_hour is None else self.turns_per_hour

    def upload_limit_mb(self, deployment_mb: float) -> float:
        """The server may lower the deployment's limit, never raise it."""
        return min(deployment_mb, self.max_upload_mb) if self.max_upload_mb else deployment_mb

    def allows(self, channel: object) -> bool:
        if not self.allowed_channels:
            return True
        ids = {getattr(channel, "id", None), getattr(channel, "parent_id", None)}  # a thread counts as its channel
        return bool(ids & set(self.allowed_channels))


class SettingsStore:
    """Per-guild settings in the database; DMs get the defaults.

    Read on every request, so never waited for once known: a cached value is answered at
    once and, when older than :data:`CACHE_S`, refreshed in the background (a change made
    by another bot process shows within that). Concurrent first reads of a guild share one
    database query.
    """

    def __init__(self, database_url: str):
        self.url = database_url
        self._cache: dict[int, tuple[float, ServerSettings]] = {}
        self._loading: dict[int, asyncio.Future] = {}

    async def get(self, guild_id: int | None) -> ServerSettings:
        if guild_id is None:
            return ServerSettings()
        hit = self._cache.get(guild_id)
        if hit is not None:
            if hit[0] < time.monotonic() and guild_id not in self._loading:
                self._start_load(guild_id).add_done_callback(_ignore_failure)
            return hit[1]
        return await asyncio.shield(self._loading.get(guild_id) or self._start_load(guild_id))

    async def fresh(self, guild_id: int) -> ServerSettings:
        """Read from the database now (before changing them)."""
        settings = await asyncio.to_thread(self._load, guild_id)
        self._cache[guild_id] = (time.monotonic() + CACHE_S, settings)
        return settings

    def preload(self, guild_id: int) -> None:
        """Read a guild's settings in the background (when the bot joins or sees it)."""
        if guild_id not in self._cache and guild_id not in self._loading:
            self._start_load(guild_id).add_done_callback(_ignore_failure)

    def _start_load(self, guild_id: int) -> asyncio.Future:
        async def load() -> ServerSettings:
            try:
                settings = await asyncio.to_thread(self._load, guild_id)
                self._cache[guild_id] = (time.monotonic() + CACHE_S, settings)
                return settings
            finally:
                self._loading.pop(guild_id, None)

        fut = asyncio.ensure_future(load())
        self._loading[guild_id] = fut
        return fut

    def _load(self, guild_id: int) -> ServerSettings:
        with session_scope(self.url) as s:
            row = s.scalar(select(WorkspaceSettings).where(WorkspaceSettings.platform == PLATFORM,
                                                           WorkspaceSettings.workspace_id == str(guild_id)))
            return _from_row(row)

    async def update(self, guild_id: int, **changes) -> ServerSettings:
        settings = await asyncio.to_thread(self._save, guild_id, changes)
        self._cache[guild_id] = (time.monotonic() + CACHE_S, settings)
        return settings

    def _save(self, guild_id: int, changes: dict) -> ServerSettings:
        with session_scope(self.url) as s:
            row = s.scalar(select(WorkspaceSettings).where(WorkspaceSettings.platform == PLATFORM,
                                                           WorkspaceSettings.workspace_id == str(guild_id))
                           .with_for_update())
            if row is None:
                row = WorkspaceSettings(platform=PLATFORM, workspace_id=str(guild_id), allowed_channels=[],
                                        shared_threads=False)
                s.add(row)
            current = replace(_from_row(row), **changes)
            row.allowed_channels = [str(c) for c in current.allowed_channels]
            row.turns_per_hour = current.turns_per_hour
            row.max_upload_mb = current.max_upload_mb
            row.shared_threads = current.shared_threads
            return current


def _ignore_failure(fut: asyncio.Future) -> None:
    # A failed background refresh keeps the cached value; the next read tries again.
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("could not read server settings: %s", fut.exception())


def _from_row(row: WorkspaceSettings | None) -> ServerSettings:
    if row is None:
        return ServerSettings()
    return ServerSettings(allowed_channels=tuple(int(c) for c in row.allowed_channels or ()),
                          turns_per_hour=row.turns_per_hour, max_upload_mb=row.max_upload_mb,
                          shared_threads=bool(row.shared_threads))


class RateLimiter:
    """A sliding one-hour window of each member's turns, per server (DMs count as one place).

    Kept in memory: one bot process serves all its shards, and a restart forgiving the
    last hour is harmless.
    """

    def __init__(self, window_s: float = WINDOW_S):
        self.window_s = window_s
        self._hits: dict[tuple[int | None, int], deque[float]] = {}

    def take(self, guild_id: int | None, user_id: int, limit: int, now: float | None = None) -> float | None:
        """Count one turn; returns None when allowed, else the seconds until one is free."""
        if limit <= 0:
            return None
        now = time.monotonic() if now is None else now
        hits = self._hits.setdefault((guild_id, user_id), deque())
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if len(hits) >= limit:
            return hits[0] + self.window_s - now
        hits.append(now)
        return None

    def forget(self, user_id: int) -> None:
        for key in [k for k in self._hits if k[1] == user_id]:
            del self._hits[key]


async def admit(bot: MuseChatBot, guild_id: int | None, channel: object, user_id: int) -> str | None:
    """Whether a member may ask for a turn here and now: None if so, else what to tell them."""
    settings = await bot.server_settings.get(guild_id)
    if guild_id is not None and not settings.allows(channel):
        where = ", ".join(f"<#{c}>" for c in settings.allowed_channels)
        return f"On this server I work in {where}. Ask me there!"
    wait = bot.rate.take(guild_id, user_id, settings.hourly_limit())
    if wait is not None:
        minutes = max(1, round(wait / 60))
        return (f"You've asked me {settings.hourly_limit()} times in the last hour, the most this server "
                f"allows. Try again in about {minutes} minute{'s' if minutes != 1 else ''}.")
    return None


def describe(settings: ServerSettings, deployment_mb: float) -> str:
    channels = ", ".join(f"<#{c}>" for c in settings.allowed_channels) or "every channel"
    limit = settings.hourly_limit()
    return "\n".join([
        "**MuseChat on this server**",
        f"• Works in: {channels}",
        f"• Requests per member per hour: {limit if limit else 'no limit'}",
        f"• Largest video: {settings.upload_limit_mb(deployment_mb):g} MB",
        f"• Shared threads (anyone may refine anyone's picks): {'on' if settings.shared_threads else 'off'}",
    ])


def _manages_server(interaction: discord.Interaction) -> bool:
    # Checked here, not only by Discord: admins can re-grant a command to anyone, and
    # subcommands cannot carry their own default permissions. In DMs it just explains.
    if interaction.guild_id is None or interaction.permissions.manage_guild:
        return True
    raise app_commands.MissingPermissions(["manage_guild"])


@app_commands.describe(
    allow_channel="Let MuseChat work in this channel (once any is set, only listed channels)",
    remove_channel="Stop MuseChat working in this channel",
    all_channels="True: work in every channel again",
    turns_per_hour="Requests each member may make per hour (0 = no limit)",
    max_upload_mb="Largest video accepted, in MB (at most the deployment's limit)",
    shared_threads="Let anyone in a thread refine its picks, not only who started it",
)
@app_commands.check(_manages_server)
async def config_command(
    interaction: discord.Interaction,
    allow_channel: discord.TextChannel | None = None,
    remove_channel: discord.TextChannel | None = None,
    all_channels: bool | None = None,
    turns_per_hour: app_commands.Range[int, 0, 10000] | None = None,
    max_upload_mb: app_commands.Range[float, 0.1, 10000.0] | None = None,
    shared_threads: bool | None = None,
) -> None:
    """Show or change MuseChat's settings for this server (Manage Server only)."""
    bot: MuseChatBot = interaction.client  # type: ignore[assignment]
    if interaction.guild_id is None:
        await interaction.response.send_message("Settings are per server; there is nothing to set in DMs.",
                                                ephemeral=True)
        return
    current = await bot.server_settings.fresh(interaction.guild_id)
    changes: dict = {}
    channels = list(current.allowed_channels)
    if all_channels:
        channels = []
    if allow_channel is not None and allow_channel.id not in channels:
        channels.append(allow_channel.id)
    if remove_channel is not None and remove_channel.id in channels:
        channels.remove(remove_channel.id)
    if tuple(channels) != current.allowed_channels:
        changes["allowed_channels"] = tuple(channels)
    if turns_per_hour is not None:
        changes["turns_per_hour"] = turns_per_hour
    if max_upload_mb is not None:
        changes["max_upload_mb"] = float(max_upload_mb)
    if shared_threads is not None:
        changes["shared_threads"] = shared_threads
    if changes:
        current = await bot.server_settings.update(interaction.guild_id, **changes)
    note = ""
    if max_upload_mb is not None and max_upload_mb > bot.settings.max_upload_mb:
        note = f"\n(This deployment accepts at most {bot.settings.max_upload_mb:g} MB.)"
    prefix = "Saved. " if changes else ""
    await interaction.response.send_message(prefix + describe(current, bot.settings.max_upload_mb) + note,
                                            ephemeral=True)


def register(bot: MuseChatBot) -> None:
    bot.musechat_group.add_command(app_commands.Command(
        name="config", description="Show or change MuseChat's settings for this server (Manage Server)",
        callback=config_command))

    async def known(guild: discord.Guild) -> None:
        bot.server_settings.preload(guild.id)

    bot.add_listener(known, "on_guild_available")
    bot.add_listener(known, "on_guild_join")
