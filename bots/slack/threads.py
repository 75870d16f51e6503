"""Where a conversation lives in Slack, as stored in ``Conversation.thread_id``.

In a channel a conversation is the thread under the message that brought the video:
``"C123:1700000000.000100"`` (a thread ``ts`` is unique only within its channel). In a
direct message the bot answers in the DM itself, so the key is the DM's id (``"D123"``)
and every later message there continues the newest conversation — unless it was sent in
a thread, which then is the conversation.
"""

from __future__ import annotations


def thread_key(channel: str, *, ts: str, thread_ts: str | None, is_dm: bool) -> str:
    """The key of the conversation a message starts or continues."""
    if thread_ts:
        return f"{channel}:{thread_ts}"
    if is_dm:
        return channel
    return f"{channel}:{ts}"


def reply_ts(key: str) -> str | None:
    """The ``thread_ts`` to post into for a key (None: post into the DM itself)."""
    _, _, ts = key.partition(":")
    return ts or None


def is_dm_channel(channel: str, channel_type: str | None = None) -> bool:
    return channel_type == "im" or (channel_type is None and channel.startswith("D"))
