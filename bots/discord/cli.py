"""`musechat serve discord`: run the Discord bot (needs DISCORD_TOKEN, a broker and a worker)."""

from __future__ import annotations

import logging

import typer

from core.config import get_settings
from core.errors import ConfigError

NEEDS_BROKER = ("MUSECHAT_BROKER_URL is not set: the Discord bot queues work for `musechat worker` processes. "
                "Start Redis (`redis-server --port 6379`), then a worker "
                "(`MUSECHAT_BROKER_URL=redis://localhost:6379/0 musechat worker`), and set "
                "MUSECHAT_BROKER_URL=redis://localhost:6379/0 for the bot too.")
NEEDS_TOKEN = ("DISCORD_TOKEN is not set: copy the bot token from the Discord Developer Portal "
               "(your application > Bot > Reset Token) into DISCORD_TOKEN.")


def discord_command(
    message_content: bool = typer.Option(
        False, "--message-content/--no-message-content", envvar="MUSECHAT_DISCORD_MESSAGE_CONTENT",
        help="The privileged Message Content intent is enabled for the application: plain replies in a "
             "thread refine the picks. Without it, members use the Refine… button."),
    shards: int | None = typer.Option(
        None, "--shards", min=1, envvar="MUSECHAT_DISCORD_SHARDS",
        help="Number of gateway shards (default: as many as Discord recommends)."),
    sync: bool = typer.Option(
        True, "--sync/--no-sync", help="Register the slash commands with Discord at start."),
) -> None:
    """Run the Discord bot: videos in, music picks in a thread (needs MUSECHAT_BROKER_URL and a worker)."""
    settings = get_settings()
    if not settings.broker_url:
        raise ConfigError(NEEDS_BROKER)
    if not settings.discord_token or not settings.discord_token.get_secret_value().strip():
        raise ConfigError(NEEDS_TOKEN)
    _check_database(settings)
    _check_broker(settings.broker_url)
    logging.getLogger().setLevel(settings.log_level)  # after the checks: their chatter is not news
    import discord

    from bots.discord.bot import run

    typer.echo("MuseChat for Discord: connecting…")
    try:
        run(settings, message_content=message_content, shard_count=shards, sync_commands=sync)
    except discord.LoginFailure:
        raise ConfigError("DISCORD_TOKEN was refused by Discord: reset the token in the Developer Portal "
                          "and set it again") from None
    except discord.PrivilegedIntentsRequired:
        raise ConfigError("the Message Content intent is not enabled for this application: turn it on in the "
                          "Developer Portal (Bot > Privileged Gateway Intents) or run without "
                          "--message-content") from None


def _check_database(settings) -> None:
    from core.db import migrate

    state = migrate.schema_state()
    if not state.reachable:
        raise ConfigError(f"the database is not ready ({state.error}): check MUSECHAT_DATABASE_URL, "
                          "and create the schema with `musechat db upgrade`")
    if not state.up_to_date:
        raise ConfigError("the database schema is not up to date: run `musechat db upgrade`")


def _check_broker(url: str) -> None:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # kombu raises the transport's own errors
        raise ConfigError(f"cannot reach the broker at {url} ({exc.__class__.__name__}): is Redis running? "
                          "Start it with `redis-server --port 6379`") from None
