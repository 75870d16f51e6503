"""The picks message: an embed (rank, title, artist, match %, tags, tempo, duration,
licence/attribution, then the explanations) and buttons under it — 👍, 👎 and "More like
this" per pick, and "Refine…" opening a form for free text.

The buttons are ``DynamicItem``s: their custom ids carry what they act on
(``musechat:pick:<kind>:<conversation>:<pick>:<rank>``, ``musechat:refine:<conversation>``),
so any bot process — including one started after the message was posted — answers them
without remembering anything. The Refine form is answered the same way, by its custom id.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING

import discord

from bots.discord.replies import GENERIC_ERROR, NOT_YOURS, reply_privately
from bots.discord.server_config import admit
from bots.discord.threads import refining_text
from core.conversation.service import GENERIC_FAILURE, TurnView
from core.db.models import ReactionKind
from core.errors import UserError

if TYPE_CHECKING:
    from bots.discord.bot import MuseChatBot

log = logging.getLogger(__name__)

# Buttons fit five rows: picks 1-4 take a row each, pick 5 shares the last row with Refine.
MAX_PICKS_WITH_BUTTONS = 5
FORM_ID = "musechat:refine-form:{conversation_id}"
FORM_PATTERN = re.compile(r"musechat:refine-form:(?P<conversation>\d+)")
FEEDBACK_FIELD = "feedback"
EXPLANATION_CHARS = 420
EMBED_BUDGET = 5500  # characters; Discord refuses embeds over 6000


# --- the embed -------------------------------------------------------------------------------

def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def picks_embed(view: TurnView, *, explanations_pending: bool = False) -> discord.Embed:
    """The embed for a turn's picks; ``explanations_pending`` marks where they will appear."""
    esc = discord.utils.escape_markdown
    title = "🎵 Music for your video" if view.index == 0 else f"🎵 Refined picks (round {view.index + 1})"
    lines = []
    if view.feedback:
        lines.append(f"You asked: “{esc(_clip(view.feedback, 200))}”")
    lines += view.notes
    embed = discord.Embed(title=title, description=_clip("\n".join(lines), 1000) or None, colour=0x5865F2)
    per_field = min(1024, (EMBED_BUDGET - len(embed.description or "")) // max(1, len(view.picks)) - 100)
    for p in view.picks[:25]:
        name = f"{p.rank}. {p.title}" + (f" — {p.artist}" if p.artist else "")
        facts = [f"**{p.match_percent}% match**"]
        if p.tempo_bpm:
            facts.append(f"{round(p.tempo_bpm)} bpm")
        facts.append(_duration(p.duration_s))
        if p.instrumental is not None:
            facts.append("instrumental" if p.instrumental else "vocals")
        body = [" · ".join(facts)]
        if p.tags:
            body.append("Tags: " + esc(", ".join(p.tags[:6])))
        if p.explanation:
            body.append("> " + esc(_clip(p.explanation, EXPLANATION_CHARS)).replace("\n", " "))
        elif explanations_pending:
            body.append("_writing why this fits…_")
        credit = f"Licence: {p.licence}" + (f" · {p.attribution}" if p.attribution else "")
        body.append(f"-# {esc(_clip(credit, 200))}")
        embed.add_field(name=_clip(esc(name), 256), value=_clip("\n".join(body), max(200, per_field)), inline=False)
    embed.set_footer(text="👍 / 👎 teach me your taste · “More like” finds similar music · Refine… says what to change")
    return embed


def failure_text(view: TurnView) -> str:
    return f"⚠️ {view.error or GENERIC_FAILURE}"


def no_picks_text(view: TurnView) -> str:
    return "🔍 " + (" ".join(view.notes) or "I found nothing in the catalog for that.")


# --- buttons ---------------------------------------------------------------------------------

_KINDS = {
    "like": (ReactionKind.like, "👍", discord.ButtonStyle.secondary),
    "dislike": (ReactionKind.dislike, "👎", discord.ButtonStyle.secondary),
    "more": (ReactionKind.more_like_this, "🔁", discord.ButtonStyle.primary),
}


class PickButton(discord.ui.DynamicItem[discord.ui.Button],
                 template=r"musechat:pick:(?P<kind>like|dislike|more):(?P<conversation>\d+):(?P<pick>\d+):(?P<rank>\d+)"):
    """👍 / 👎 / More like this, for one pick."""

    def __init__(self, kind: str, conversation_id: int, pick_id: int, rank: int, row: int | None = None):
        _, emoji, style = _KINDS[kind]
        label = f"More like #{rank}" if kind == "more" else f"#{rank}"
        super().__init__(discord.ui.Button(
            style=style, label=label, emoji=emoji, row=row,
            custom_id=f"musechat:pick:{kind}:{conversation_id}:{pick_id}:{rank}"))
        self.kind, self.conversation_id, self.pick_id, self.rank = kind, conversation_id, pick_id, rank

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str], /) -> PickButton:
        return cls(match["kind"], int(match["conversation"]), int(match["pick"]), int(match["rank"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(interaction, self._react(interaction))

    async def _react(self, interaction: discord.Interaction) -> None:
        bot: MuseChatBot = interaction.client  # type: ignore[assignment]
        if not bot.first_time(str(interaction.id)):
            return
        if not await bot.may_refine(interaction.user.id, interaction.guild_id, self.conversation_id):
            await reply_privately(interaction, NOT_YOURS)
            return
        kind = _KINDS[self.kind][0]
        if kind is ReactionKind.more_like_this:
            problem = await admit(bot, interaction.guild_id, interaction.channel, interaction.user.id)
            if problem:
                await reply_privately(interaction, problem)
                return
        handle = await asyncio.to_thread(bot.service.react, self.pick_id, kind, user_id=str(interaction.user.id),
                                         event_id=str(interaction.id))
        if kind is ReactionKind.like:
            await reply_privately(interaction, f"👍 Noted: more music like #{self.rank}.")
        elif kind is ReactionKind.dislike:
            await reply_privately(interaction, f"👎 Noted: I won't suggest #{self.rank} again here.")
        elif handle is not None and handle.created:
            bot.delivery.watch(handle.turn_id)
            text = f"🔁 Looking for more like #{self.rank}…" + (f"\n{handle.notice}" if handle.notice else "")
            await interaction.response.send_message(text)


class RefineButton(discord.ui.DynamicItem[discord.ui.Button], template=r"musechat:refine:(?P<conversation>\d+)"):
    """Opens the Refine form for the conversation."""

    def __init__(self, conversation_id: int, row: int | None = None):
        super().__init__(discord.ui.Button(style=discord.ButtonStyle.success, label="Refine…", emoji="✏️",
                                           row=row, custom_id=f"musechat:refine:{conversation_id}"))
        self.conversation_id = conversation_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str], /) -> RefineButton:
        return cls(int(match["conversation"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(interaction, self._open(interaction))

    async def _open(self, interaction: discord.Interaction) -> None:
        bot: MuseChatBot = interaction.client  # type: ignore[assignment]
        if not await bot.may_refine(interaction.user.id, interaction.guild_id, self.conversation_id):
            await reply_privately(interaction, NOT_YOURS)
            return
        await interaction.response.send_modal(refine_form(self.conversation_id))


def picks_view(view: TurnView) -> discord.ui.View:
    """The buttons under a turn's picks (persistent: no timeout, ids that say what they do)."""
    ui = discord.ui.View(timeout=None)
    shown = view.picks[:MAX_PICKS_WITH_BUTTONS]
    for row, p in enumerate(shown):
        for kind in ("like", "dislike", "more"):
            ui.add_item(PickButton(kind, view.conversation_id, p.pick_id, p.rank, row=row))
    ui.add_item(RefineButton(view.conversation_id, row=min(len(shown), 4)))
    return ui


# --- the Refine form -------------------------------------------------------------------------

def refine_form(conversation_id: int) -> discord.ui.Modal:
    """The Refine form. It is answered by ``on_form`` from its custom id — so a form opened
    before a restart still works — hence it is stopped before sending: discord.py then
    keeps no copy of it waiting for the submit."""
    form = discord.ui.Modal(title="Refine the picks", custom_id=FORM_ID.format(conversation_id=conversation_id))
    form.add_item(discord.ui.Label(text="What should change?", component=discord.ui.TextInput(
        custom_id=FEEDBACK_FIELD, style=discord.TextStyle.paragraph,
        placeholder="e.g. more upbeat, no vocals, under 2 minutes", min_length=1, max_length=1000)))
    form.stop()
    return form


def _field_value(components: list[dict], custom_id: str) -> str | None:
    for c in components:
        if c.get("custom_id") == custom_id and "value" in c:
            return c["value"]
        inner = c.get("components") or ([c["component"]] if "component" in c else [])
        if (found := _field_value(inner, custom_id)) is not None:
            return found
    return None


async def on_form(bot: MuseChatBot, interaction: discord.Interaction) -> None:
    if interaction.type is not discord.InteractionType.modal_submit:
        return
    match = FORM_PATTERN.fullmatch((interaction.data or {}).get("custom_id", ""))
    if match is None:
        return
    await _guarded(interaction, _submit(bot, interaction, int(match["conversation"])))


async def _submit(bot: MuseChatBot, interaction: discord.Interaction, conversation_id: int) -> None:
    if not bot.first_time(str(interaction.id)):
        return
    text = _field_value((interaction.data or {}).get("components", []), FEEDBACK_FIELD) or ""
    if not await bot.may_refine(interaction.user.id, interaction.guild_id, conversation_id):
        await reply_privately(interaction, NOT_YOURS)
        return
    problem = await admit(bot, interaction.guild_id, interaction.channel, interaction.user.id)
    if problem:
        await reply_privately(interaction, problem)
        return
    handle = await asyncio.to_thread(bot.service.reply, conversation_id, text, event_id=str(interaction.id))
    if handle.created:
        bot.delivery.watch(handle.turn_id)
        await interaction.response.send_message(refining_text(text.strip()) + (f"\n{handle.notice}" if handle.notice else ""))


async def _guarded(interaction: discord.Interaction, work) -> None:
    """Run a component's work; what a user caused becomes a private friendly reply."""
    try:
        await work
    except UserError as exc:
        await reply_privately(interaction, exc.user_message)
    except Exception:
        log.exception("interaction %s failed", interaction.id)
        await reply_privately(interaction, GENERIC_ERROR)


def register(bot: MuseChatBot) -> None:
    bot.add_dynamic_items(PickButton, RefineButton)

    async def listener(interaction: discord.Interaction) -> None:
        await on_form(bot, interaction)

    bot.add_listener(listener, "on_interaction")
