from __future__ import annotations

from slack_bolt import App

from bots.slack.blocks import DISLIKE, LIKE, MORE, REFINE
from bots.slack.listeners.actions.pick_reaction import pick_reaction
from bots.slack.listeners.actions.refine_open import refine_open


def register(app: App) -> None:
    for action_id in (LIKE, DISLIKE, MORE):
        app.action(action_id)(pick_reaction)
    app.action(REFINE)(refine_open)
