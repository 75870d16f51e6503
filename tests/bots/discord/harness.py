"""Running the real bot against the fake Discord inside one test.

``Harness`` starts :class:`FakeDiscord`, points discord.py's REST base and default
gateway at it, and starts a :class:`MuseChatBot` that logs in, syncs its commands and
identifies on the gateway exactly as in production. ``restart()`` stops the bot process
state entirely (a new client object, nothing carried over) and starts another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import discord
import yarl
from discord.gateway import DiscordWebSocket

from bots.discord.bot import MuseChatBot
from core.config import get_settings
from core.conversation.service import ConversationService
from tests.bots.discord.fake_discord import FakeDiscord
from tests.conversation.sample_media import write_clip

Scenario = Callable[["Harness"], Awaitable[None]]


class Harness:
    def __init__(self, monkeypatch, tmp_path: Path, *, message_content: bool = False,
                 service: Callable[[], ConversationService] | None = None):
        self.monkeypatch = monkeypatch
        self.tmp_path = tmp_path
        self.message_content = message_content
        self.make_service = service or (lambda: ConversationService(get_settings()))
        self.fake = FakeDiscord()
        self.bot: MuseChatBot | None = None
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> Harness:
        await self.fake.start()
        self.monkeypatch.setattr(discord.http.Route, "BASE", self.fake.api_base)
        self.monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(self.fake.gateway_url))
        self.guild = self.fake.add_guild("Film Club", channels=("general", "clips"))
        self.channel = self.fake.channels[int(self.guild["channels"][0]["id"])]
        self.other_channel = self.fake.channels[int(self.guild["channels"][1]["id"])]
        self.alice = self.fake.add_user("alice")
        self.bob = self.fake.add_user("bob")
        await self.start_bot()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop_bot()
        await self.fake.stop()

    async def start_bot(self, **options) -> MuseChatBot:
        options.setdefault("message_content", self.message_content)
        # Small waits so a test does not sit through production pacing.
        bot = MuseChatBot(get_settings(), service=self.make_service(), poll_s=0.1,
                          guild_ready_timeout=0.05, **options)
        self.bot = bot
        self._task = asyncio.create_task(bot.start("fake-token"))
        ready = asyncio.create_task(bot.wait_until_ready())
        done, _ = await asyncio.wait([self._task, ready], timeout=20, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            ready.cancel()
            self._task.result()  # the bot stopped while starting: raise why
            raise AssertionError("the bot stopped while starting")
        if ready not in done:
            raise AssertionError("the bot did not become ready within 20 s")
        return bot

    async def stop_bot(self) -> None:
        if self.bot is not None:
            await self.bot.close()
            if self._task is not None:
                await asyncio.wait_for(self._task, 15)
            self.bot = None

    async def restart(self, **options) -> MuseChatBot:
        await self.stop_bot()
        return await self.start_bot(**options)

    # --- helpers for scenarios --------------------------------------------------------------

    def video(self, name: str = "beach.mp4", seconds: float = 2.0, **kw) -> dict:
        """A real small video uploaded as an attachment."""
        path = write_clip(self.tmp_path / name, seconds=seconds, **kw)
        return self.fake.attachment(name, path.read_bytes(), channel_id=int(self.channel["id"]))

    def button(self, message: dict, kind: str, rank: int) -> str:
        """The custom id of a pick's 👍 (``like``), 👎 (``dislike``) or "More like" (``more``) button."""
        return self.fake.find_button(message, lambda c: c["custom_id"].startswith(f"musechat:pick:{kind}:")
                                     and c["custom_id"].endswith(f":{rank}"))["custom_id"]

    async def answered(self, inter, timeout: float = 10.0) -> dict:
        """The bot's first answer to an interaction."""
        await self.fake.wait_for(lambda: inter.responses, timeout, "an answer to the interaction")
        return inter.response

    def said(self, channel_id) -> list[str]:
        return [m["content"] for m in self.fake.bot_messages(channel_id)]

    async def wait_said(self, channel_id, text: str, timeout: float = 10.0) -> str:
        """Wait until the bot posted a message containing ``text`` in the channel."""
        return await self.fake.wait_for(lambda: next((c for c in self.said(channel_id) if text in c), None),
                                        timeout, f"the bot to say {text!r}")

    def picks_messages(self, channel_id) -> list[dict]:
        return [m for m in self.fake.bot_messages(channel_id) if m["embeds"] and m["components"]]

    async def wait_picks(self, channel_id, count: int = 1, *, explained: bool = True, timeout: float = 120.0) -> list[dict]:
        """Wait until ``count`` picks messages are in the channel (with explanations by default)."""
        def ready():
            msgs = self.picks_messages(channel_id)
            if len(msgs) < count:
                return None
            if explained and any("writing why" in f["value"] for m in msgs for f in m["embeds"][0]["fields"]):
                return None
            return msgs
        return await self.fake.wait_for(ready, timeout, f"{count} picks message(s) in {channel_id}")


def run(scenario: Scenario, monkeypatch, tmp_path: Path, **kw) -> None:
    """Run ``scenario`` with a fresh fake Discord and bot on a fresh event loop."""
    async def main() -> None:
        async with Harness(monkeypatch, tmp_path, **kw) as h:
            await scenario(h)
    asyncio.run(main())
