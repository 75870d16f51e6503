"""The `musechat` command line: one entry point for every job.

Command groups live one per module in this package; front ends and workers add theirs
through the ``musechat.commands`` entry point group, so this package never imports
Discord, Slack or Celery itself.
"""

from __future__ import annotations

import logging
import sys
from importlib.metadata import entry_points

import typer

from core.cli import catalog_cmds, db_cmds, doctor_cmds, eval_cmds, explainer_cmds, retriever_cmds, train_cmds
from core.cli.chat_cmds import chat
from core.cli import data_cmds
from core.cli import moderation_cmds
from core.cli.bench_cmds import bench
from core.errors import ConfigError, MuseChatError, UserError

app = typer.Typer(
    name="musechat",
    help="MuseChat: conversational music recommendations for videos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db_cmds.app, name="db")
app.command("doctor")(doctor_cmds.doctor)
app.command("config")(doctor_cmds.show_config)
app.command("bench")(bench)
app.command("chat")(chat)
app.add_typer(data_cmds.app, name="data")
app.add_typer(moderation_cmds.moderator_app, name="moderator")
app.add_typer(moderation_cmds.retention_app, name="retention")
app.add_typer(catalog_cmds.app, name="catalog")
app.add_typer(train_cmds.app, name="train")
app.add_typer(eval_cmds.app, name="eval")
retriever_cmds.register(train_cmds.app, eval_cmds.app)
explainer_cmds.register(train_cmds.app, eval_cmds.app)


def _load_plugins() -> None:
    for ep in entry_points(group="musechat.commands"):
        obj = ep.load()
        if isinstance(obj, typer.Typer):
            app.add_typer(obj, name=ep.name)
        else:
            app.command(ep.name)(obj)


def main() -> None:
    """Console entry point: known errors end with one clear line, not a traceback."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _load_plugins()
    try:
        app()
    except ConfigError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
    except UserError as exc:
        typer.secho(f"error: {exc.user_message}", fg="red", err=True)
        sys.exit(1)
    except MuseChatError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
