"""The Refine… modal was submitted: its text is the conversation's next turn."""

from __future__ import annotations

import json

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bots.slack.blocks import REFINE_BLOCK, refine_text

EMPTY = "Tell me what to change, or tick one of the quick choices."


def refine_submit(ack: Ack, body: dict, view: dict, context: BoltContext, client: WebClient) -> None:
    text = refine_text(view)
    if not text:
        ack(response_action="errors", errors={REFINE_BLOCK: EMPTY})  # the modal stays open
        return
    ack()
    bot = context["musechat"]
    meta = json.loads(view.get("private_metadata") or "{}")
    # One submission of one modal is one turn, however often Slack delivers it.
    event_id = f"view:{view.get('id')}" if view.get("id") else None
    bot.intake.submit(bot.intake.feedback, client, meta["channel"], meta["thread"], text, int(meta["conversation_id"]),
                      event_id, key=meta["thread"])
