from __future__ import annotations

from slack_bolt import App

from bots.slack.listeners.shortcuts.recommend_music import CALLBACK_ID, recommend_music


def register(app: App) -> None:
    app.shortcut(CALLBACK_ID)(recommend_music)
