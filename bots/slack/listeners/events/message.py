"""``message``: a DM, or a reply in a thread where a conversation lives."""

from __future__ import annotations

from slack_bolt import BoltContext, BoltRequest
from slack_sdk import WebClient

from bots.slack.intake import Incoming, mentions
from bots.slack.listeners.events.app_mention import retry_num

# Plain messages, messages with files, and thread replies also sent to the channel.
HANDLED_SUBTYPES = {None, "file_share", "thread_broadcast"}


def message(body: dict, event: dict, context: BoltContext, client: WebClient, request: BoltRequest) -> None:
    if event.get("subtype") not in HANDLED_SUBTYPES or event.get("bot_id"):
        return  # edits, deletions, joins, other bots
    bot = context["musechat"]
    msg = Incoming.from_event(event, body, context)
    if not msg.is_dm:
        if mentions(event.get("text") or "", context.bot_user_id):
            return  # the app_mention event for the same message handles it
        if not msg.thread_ts:
            return  # top-level channel chatter is not addressed to the bot
    if bot.intake.accept(msg.event_id, retry_num(request)):
        bot.intake.submit(bot.intake.message, client, msg, False, event_id=msg.event_id, key=msg.key)
