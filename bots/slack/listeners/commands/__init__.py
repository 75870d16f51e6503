from __future__ import annotations

from slack_bolt import App

from bots.slack.listeners.commands.musechat import COMMAND, musechat


def register(app: App) -> None:
    app.command(COMMAND)(musechat)
