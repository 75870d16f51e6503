"""The MuseChat Discord bot: a discord.py client wired to the conversation service.

Every database or queue call runs in a thread (``asyncio.to_thread``) so the event loop
only ever waits on the network; :class:`~bots.discord.loop_watch.LoopWatch` reports when
something blocked it anyway. ``AutoShardedBot`` lets one process serve many servers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import discord
from discord import app_commands
from discord.ext import commands

from bots.discord import delivery, picks, privacy, recommend, server_config, threads
from bots.discord.loop_watch import LoopWatch
from bots.discord.replies import GENERIC_ERROR, reply_privately
from core.config import Settings
from core.conversation.service import ConversationNotFound, ConversationService
from core.errors import ConfigError, UserError

log = logging.getLogger(__name__)

FEATURES = (recommend, threads, picks, privacy, server_config)
# Threads for database and queue calls. Few on purpose: each holds the GIL while SQLAlchemy
# runs Python, and with 12 the event loop waited on them for up to 0.4 s when 100
# conversations started at once (bench/discord_first_reply.py); 4 halved the time to start.
DB_THREADS = 4
# Event ids remembered to drop gateway duplicates (a RESUME replays; the service dedupes
# across processes and restarts, this spares the duplicate a second "listening…" reply).
SEEN_EVENTS = 20_000


class Recent:
    """A set that remembers only its latest ``size`` members (memory stays flat for months)."""

    def __init__(self, size: int = SEEN_EVENTS):
        self.size = size
        self._items: OrderedDict = OrderedDict()

    def add(self, item) -> None:
        self._items[item] = None
        self._items.move_to_end(item)
        if len(self._items) > self.size:
            self._items.popitem(last=False)

    def __contains__(self, item) -> bool:
        return item in self._items


class MuseChatBot(commands.AutoShardedBot):
    """``settings``: the one settings object; ``service``: the conversation service (default:
    one for the settings, queueing jobs on the broker); ``message_content``: whether the
    privileged intent was granted (plain thread replies become turns); ``sync_commands``:
    register the slash commands with Discord at start."""

    def __init__(self, settings: Settings, *, service: ConversationService | None = None,
                 message_content: bool = False, sync_commands: bool = True, poll_s: float = 0.5,
                 **options):
        intents = discord.Intents.default()
        intents.message_content = message_content
        intents.typing = False
        options.setdefault("allowed_mentions", discord.AllowedMentions.none())
        options.setdefault("max_messages", 500)
        super().__init__(command_prefix=commands.when_mentioned, intents=intents, help_command=None, **options)
        if service is None and not settings.broker_url:
            # Without a broker the service would run the models in this process.
            raise ConfigError("MUSECHAT_BROKER_URL is not set: the Discord bot queues its work for "
                              "`musechat worker` processes")
        self.settings = settings
        self.service = service or ConversationService(settings)
        self.sync_commands = sync_commands
        self.server_settings = server_config.SettingsStore(self.service.url)
        self.rate = server_config.RateLimiter()
        self.delivery = delivery.Delivery(self, poll_s=poll_s)
        self.loop_watch = LoopWatch()
        self.musechat_group = app_commands.Group(
            name="musechat", description="Your MuseChat data, and MuseChat's settings for this server")
        self._seen = Recent()
        self._starters: OrderedDict[int, str] = OrderedDict()
        self.conversation_threads = Recent()  # threads where this process started a conversation
        self.hinted_threads = Recent()  # told "use Refine…" already (no message_content)
        for feature in FEATURES:
            feature.register(self)
        self.tree.add_command(self.musechat_group)
        self.tree.on_error = self._on_app_command_error

    # --- lifecycle ---------------------------------------------------------------------

    async def setup_hook(self) -> None:
        self.loop.set_default_executor(ThreadPoolExecutor(DB_THREADS, thread_name_prefix="musechat-db"))
        self.loop_watch.start()
        if self.sync_commands:
            await self.tree.sync()
        self.delivery.start()

    async def close(self) -> None:
        await self.delivery.stop()
        self.loop_watch.stop()
        await super().close()

    async def on_message(self, message: discord.Message) -> None:
        """No prefix commands: features listen for messages themselves."""

    # --- shared helpers ------------------------------------------------------------------

    def first_time(self, event_id: str) -> bool:
        """True the first time this process sees a gateway event id."""
        if event_id in self._seen:
            return False
        self._seen.add(event_id)
        return True

    def remember_starter(self, conversation_id: int, user_id: str) -> None:
        self._starters[conversation_id] = user_id
        if len(self._starters) > SEEN_EVENTS:
            self._starters.popitem(last=False)

    def forget_starter(self, user_id: str) -> None:
        for cid in [c for c, u in self._starters.items() if u == user_id]:
            del self._starters[cid]

    async def starter_of(self, conversation_id: int) -> str | None:
        """Who started a conversation (None when it no longer exists)."""
        if conversation_id in self._starters:
            return self._starters[conversation_id]
        try:
            turns = await asyncio.to_thread(self.service.conversation, conversation_id)
        except ConversationNotFound:
            return None
        if not turns:
            return None
        self.remember_starter(conversation_id, turns[0].user_id)
        return turns[0].user_id

    async def may_refine(self, user_id: int, guild_id: int | None, conversation_id: int) -> bool:
        """The starter refines their conversation; others only where the server shares threads.
        Raises ConversationNotFound when it was deleted."""
        starter = await self.starter_of(conversation_id)
        if starter is None:
            raise ConversationNotFound(f"conversation {conversation_id}")
        if starter == str(user_id):
            return True
        return (await self.server_settings.get(guild_id)).shared_threads

    def upload_limit_mb(self, settings: server_config.ServerSettings) -> float:
        return settings.upload_limit_mb(self.settings.max_upload_mb)

    # --- errors ------------------------------------------------------------------------

    async def _on_app_command_error(self, interaction: discord.Interaction,
                                    error: app_commands.AppCommandError) -> None:
        original = getattr(error, "original", error)
        if isinstance(error, app_commands.MissingPermissions):
            text = "You need the **Manage Server** permission to change MuseChat's settings here."
        elif isinstance(error, app_commands.CheckFailure):
            text = "You can't use that here."
        elif isinstance(original, UserError):
            text = original.user_message
        else:
            log.error("command %s failed", interaction.command and interaction.command.qualified_name,
                      exc_info=original)
            text = GENERIC_ERROR
        await reply_privately(interaction, text)


def run(settings: Settings, *, message_content: bool = False, shard_count: int | None = None,
        sync_commands: bool = True) -> None:
    """Start the bot with ``DISCORD_TOKEN`` and block until it stops."""
    token = settings.discord_token.get_secret_value() if settings.discord_token else ""
    bot = MuseChatBot(settings, message_content=message_content, shard_count=shard_count,
                      sync_commands=sync_commands)
    bot.run(token, log_handler=None)
