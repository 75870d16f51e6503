"""``app_mention``: the bot was mentioned in a channel, maybe with a video attached."""

from __future__ import annotations

from slack_bolt import BoltContext, BoltRequest
from slack_sdk import WebClient

from bots.slack.intake import Incoming


def retry_num(request: BoltRequest) -> str | None:
    """Slack's retry counter of a re-sent event (HTTP header; absent in Socket Mode)."""
    values = request.headers.get("x-slack-retry-num") or []
    return values[0] if values else None


def app_mention(body: dict, event: dict, context: BoltContext, client: WebClient, request: BoltRequest) -> None:
    # Events are acknowledged by Bolt before this runs; only hand the work over.
    bot = context["musechat"]
    msg = Incoming.from_event(event, body, context)
    if bot.intake.accept(msg.event_id, retry_num(request)):
        bot.intake.submit(bot.intake.message, client, msg, True, event_id=msg.event_id, key=msg.key)
