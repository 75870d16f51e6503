"""Every Slack listener, one kind per folder; :func:`register` wires them all into an app.

Listeners only acknowledge and hand over: the work runs on ``context["musechat"].intake``.
"""

from __future__ import annotations

from slack_bolt import App

from bots.slack.listeners import actions, commands, events, shortcuts, views


def register(app: App) -> None:
    actions.register(app)
    commands.register(app)
    events.register(app)
    shortcuts.register(app)
    views.register(app)
