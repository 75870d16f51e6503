from __future__ import annotations

from slack_bolt import App

from bots.slack.listeners.events.app_mention import app_mention
from bots.slack.listeners.events.message import message


def register(app: App) -> None:
    app.event("app_mention")(app_mention)
    app.event("message")(message)
