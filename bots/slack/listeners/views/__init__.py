from __future__ import annotations

from slack_bolt import App

from bots.slack.blocks import REFINE_VIEW
from bots.slack.listeners.views.refine_submit import refine_submit


def register(app: App) -> None:
    app.view(REFINE_VIEW)(refine_submit)
