"""``/musechat forget-me``: delete the caller's conversations, the videos only they sent,
their cached features and their reactions — after they confirm.

What MuseChat keeps about a Discord user: their id and display name on each
conversation they start, the videos they upload, their reply texts and their button
reactions. Server settings hold no personal data. Messages already posted in Discord
threads belong to Discord and stay; the bot stops acting on them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bots.discord.replies import GENERIC_ERROR

if TYPE_CHECKING:
    from bots.discord.bot import MuseChatBot

log = logging.getLogger(__name__)

CONFIRM_S = 120.0
QUESTION = ("This deletes everything MuseChat keeps about you: your conversations, the videos only you "
            "sent, your replies and your 👍/👎. It can't be undone. Delete it?")


class ConfirmForget(discord.ui.View):
    """Delete / Cancel, for the person who asked only (the message is ephemeral anyway)."""

    def __init__(self, user_id: int):
        super().__init__(timeout=CONFIRM_S)
        self.user_id = user_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.user_id

    @discord.ui.button(label="Delete my data", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, _button: discord.ui.Button) -> None:
        self.stop()
        await interaction.response.edit_message(content="Deleting…", view=None)
        bot: MuseChatBot = interaction.client  # type: ignore[assignment]
        user_id = str(interaction.user.id)
        try:
            report = await asyncio.to_thread(bot.service.forget_user, "discord", user_id,
                                             actor=f"user:discord:{user_id}")
        except Exception:
            log.exception("forget-me failed for a user")
            await interaction.edit_original_response(content=GENERIC_ERROR)
            return
        bot.forget_starter(user_id)
        bot.rate.forget(interaction.user.id)
        await interaction.edit_original_response(content=(
            f"Done. I deleted {_n(report.conversations, 'conversation')}, {_n(report.videos, 'video')} "
            f"and {_n(report.reactions, 'reaction')}."))

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, _button: discord.ui.Button) -> None:
        self.stop()
        await interaction.response.edit_message(content="Nothing was deleted.", view=None)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


async def forget_me(interaction: discord.Interaction) -> None:
    await interaction.response.send_message(QUESTION, view=ConfirmForget(interaction.user.id), ephemeral=True)


def register(bot: MuseChatBot) -> None:
    bot.musechat_group.add_command(app_commands.Command(
        name="forget-me", description="Delete your MuseChat conversations, videos and reactions",
        callback=forget_me))
