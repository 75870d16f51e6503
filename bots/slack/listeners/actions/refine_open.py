"""The "Refine…" button: opens the modal (the trigger id is valid for 3 seconds, so the
modal is opened right here rather than queued)."""

from __future__ import annotations

import logging

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bots.slack.blocks import refine_modal
from bots.slack.listeners.actions.where import message_thread

log = logging.getLogger(__name__)


def refine_open(ack: Ack, body: dict, action: dict, client: WebClient, context: BoltContext) -> None:
    ack()
    try:
        conversation_id = int(action.get("value") or "")
    except ValueError:
        return
    channel, key = message_thread(body)
    try:
        client.views_open(trigger_id=body["trigger_id"], view=refine_modal(conversation_id, channel, key))
    except SlackApiError as exc:
        log.warning("could not open the Refine… modal: %s", exc.response.get("error"))
