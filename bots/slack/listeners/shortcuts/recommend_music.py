"""The "Recommend music" message shortcut: start a conversation about that message's video,
in its thread, on behalf of whoever used the shortcut."""

from __future__ import annotations

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bots.slack.installs import workspace_key
from bots.slack.intake import Incoming
from bots.slack.threads import is_dm_channel

CALLBACK_ID = "recommend_music"


def recommend_music(ack: Ack, body: dict, shortcut: dict, context: BoltContext, client: WebClient) -> None:
    ack()
    bot = context["musechat"]
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id") or ""
    msg = Incoming(
        workspace=workspace_key(context.team_id, context.enterprise_id, bool(context.is_enterprise_install)),
        channel=channel, user=body["user"]["id"], ts=message.get("ts") or body.get("message_ts") or "",
        thread_ts=message.get("thread_ts"),
        text="",  # the message's words are its author's, not the requester's preference
        files=list(message.get("files") or []), is_dm=is_dm_channel(channel))
    bot.intake.submit(bot.intake.video, client, msg, key=msg.key)
