"""`musechat serve PLATFORM`: run a chat front end.

Each platform adds its command from its own package; a command imports its platform's
library only when it runs, so `musechat --help` stays fast and light.
"""

from __future__ import annotations

import typer

from bots.discord.cli import discord_command
from bots.slack.cli import slack
from bots.web.cli import web

app = typer.Typer(help="Run a front end (Discord, Slack, the web console).", no_args_is_help=True)
app.command("discord")(discord_command)
app.command("slack")(slack)
app.command("web")(web)
