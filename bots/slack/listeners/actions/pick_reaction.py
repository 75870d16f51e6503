"""👍 / 👎 / "More like this" on a pick."""

from __future__ import annotations

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bots.slack.blocks import DISLIKE, LIKE, MORE
from bots.slack.listeners.actions.where import message_thread
from core.db.models import ReactionKind

KINDS = {LIKE: ReactionKind.like.value, DISLIKE: ReactionKind.dislike.value, MORE: ReactionKind.more_like_this.value}


def pick_reaction(ack: Ack, body: dict, action: dict, context: BoltContext, client: WebClient) -> None:
    ack()
    bot = context["musechat"]
    try:
        pick_id = int(action.get("value") or "")
    except ValueError:
        return  # not a button this app made
    channel, key = message_thread(body)
    bot.intake.submit(bot.intake.react, client, pick_id, KINDS[action["action_id"]], body["user"]["id"], channel, key,
                      key=key)
