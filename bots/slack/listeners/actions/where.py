"""Where an interaction on one of the bot's messages happened."""

from __future__ import annotations

from bots.slack.threads import is_dm_channel, thread_key


def message_thread(body: dict) -> tuple[str, str]:
    """(channel, conversation key) of the message a button was clicked on."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
    message = body.get("message") or {}
    ts = message.get("ts") or (body.get("container") or {}).get("message_ts") or ""
    return channel, thread_key(channel, ts=ts, thread_ts=message.get("thread_ts"), is_dm=is_dm_channel(channel))
