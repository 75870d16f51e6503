"""Short things the bot says, and the ways it says them without ever raising.

A failed reply is logged, not raised: one user's deleted thread must not stop the bot.
"""

from __future__ import annotations

import logging

import discord

log = logging.getLogger(__name__)

GENERIC_ERROR = "Something went wrong on my side. Please try again in a moment."
NOT_YOURS = ("Only the person who started this conversation can refine it. "
             "Start your own with `/recommend` and a video!")


async def say(place: discord.abc.Messageable, text: str) -> None:
    """Post ``text`` in a channel or thread."""
    try:
        await place.send(text)
    except discord.HTTPException:
        log.warning("could not post in %s", getattr(place, "id", place), exc_info=True)


async def reply_to(message: discord.Message, text: str) -> None:
    """Answer a member's message (as a reply, without pinging them)."""
    try:
        await message.reply(text, mention_author=False)
    except discord.HTTPException:
        log.warning("could not reply to message %s", message.id, exc_info=True)


async def reply_privately(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral answer, whether or not the interaction was answered already."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not answer interaction %s", interaction.id, exc_info=True)
