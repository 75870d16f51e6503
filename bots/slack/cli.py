"""`musechat serve slack [--socket | --http --port N]`."""

from __future__ import annotations

import logging
import signal

import typer

from core.config import get_settings
from core.errors import ConfigError


def slack(
    socket: bool = typer.Option(False, "--socket", help="Socket Mode: connect out to Slack with SLACK_APP_TOKEN "
                                                        "(no public URL needed). The default."),
    http: bool = typer.Option(False, "--http", help="HTTP mode: Slack posts to http://HOST:PORT/slack/events; "
                                                    "needs SLACK_SIGNING_SECRET."),
    port: int = typer.Option(3000, "--port", min=0, max=65535, help="HTTP mode: port to listen on."),
    host: str = typer.Option("0.0.0.0", "--host", help="HTTP mode: address to listen on."),
) -> None:
    """Run the Slack app: videos in, music picks in the thread (needs MUSECHAT_BROKER_URL and a worker)."""
    if socket and http:
        raise typer.BadParameter("choose one of --socket and --http", param_hint="--socket/--http")
    settings = get_settings()
    logging.getLogger().setLevel(settings.log_level)
    logging.getLogger("bots").setLevel(settings.log_level)
    from bots.slack.app import create_bot, serve_http, serve_socket
    from bots.slack.installs import oauth_configured

    if not http and not settings.slack_app_token:
        raise ConfigError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-..., "
                          "Basic Information > App-Level Tokens, scope connections:write); "
                          "or run `musechat serve slack --http` with SLACK_SIGNING_SECRET")
    if not http and oauth_configured(settings):
        raise ConfigError("SLACK_CLIENT_ID/SLACK_CLIENT_SECRET (install into many workspaces) need HTTP mode "
                          "for the install pages: run `musechat serve slack --http`")
    bot = create_bot(settings, http=http)
    _check_token(bot)
    # SIGTERM (docker stop, systemd) ends the process like Ctrl-C: queued work finishes first.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if http:
            typer.echo(f"MuseChat for Slack (HTTP mode) on http://{host}:{port}/slack/events")
            serve_http(bot, host, port)
        else:
            typer.echo("MuseChat for Slack (Socket Mode): connecting…")
            serve_socket(bot, settings.slack_app_token.get_secret_value())
    except KeyboardInterrupt:
        typer.echo("stopping")


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def _check_token(bot) -> None:
    """One clear line when the single-workspace bot token is wrong, before serving."""
    if bot.tokens.store is not None:
        return
    from slack_sdk.errors import SlackApiError, SlackClientError

    try:
        who = bot.app.client.auth_test()
    except SlackApiError as exc:
        raise ConfigError(f"SLACK_BOT_TOKEN was refused by Slack ({exc.response.get('error')})") from None
    except (SlackClientError, OSError) as exc:
        raise ConfigError(f"could not reach Slack to check SLACK_BOT_TOKEN: {exc}") from None
    typer.echo(f"signed in as @{who.get('user')} in {who.get('team')}")
