"""The Slack front end: a Bolt app wired to the conversation service, and its transports.

:func:`create_bot` builds everything (the Bolt app with its listeners, the intake pool,
the delivery thread); :func:`serve_http` and :func:`serve_socket` run it:

* HTTP mode — Slack posts events, commands and interactions to ``/slack/events``; every
  request's signature is checked with ``SLACK_SIGNING_SECRET`` (unsigned, stale or
  wrongly signed requests get 401 and do nothing). With ``SLACK_CLIENT_ID`` /
  ``SLACK_CLIENT_SECRET`` set it also serves the OAuth install flow for many workspaces.
* Socket Mode — the app connects out to Slack with ``SLACK_APP_TOKEN``; no public URL.

The process never imports torch: turns are queued for workers through the broker.
"""

from __future__ import annotations

import logging
import socketserver
from concurrent.futures import Executor
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient

from bots.slack.delivery import Deliverer
from bots.slack.installs import Tokens, oauth_configured, oauth_settings, with_rate_limit_retries
from bots.slack.intake import Intake
from core.config import Settings, get_settings
from core.conversation.service import ConversationService
from core.errors import ConfigError

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
NEEDS_BROKER = ("MUSECHAT_BROKER_URL is not set: the Slack bot queues work for `musechat worker` processes. "
                "Start Redis (`redis-server --port 6379`), then a worker "
                "(`MUSECHAT_BROKER_URL=redis://localhost:6379/0 musechat worker`), and set "
                "MUSECHAT_BROKER_URL=redis://localhost:6379/0 for the bot too.")


@dataclass
class SlackBot:
    """Everything a running Slack front end holds; listeners reach it as ``context["musechat"]``."""

    app: App
    service: ConversationService
    settings: Settings
    tokens: Tokens
    intake: Intake
    deliverer: Deliverer

    def start(self) -> None:
        """Start posting results (including any left undelivered by an earlier run)."""
        self.deliverer.start()

    def stop(self) -> None:
        self.intake.close()
        self.deliverer.stop()


def create_bot(settings: Settings | None = None, *, service: ConversationService | None = None,
               client: WebClient | None = None, oauth: OAuthSettings | None = None, http: bool = True,
               poll_s: float = 0.5, listener_executor: Executor | None = None) -> SlackBot:
    """Build the Slack front end (nothing is started and nothing is sent to Slack).

    ``service``: default, one using the configured broker (ConfigError without one: this
    process must not run models). ``client``: the WebClient (tests point ``base_url`` at
    a mock Slack). ``oauth``: Bolt OAuth settings; by default from SLACK_CLIENT_ID /
    SLACK_CLIENT_SECRET when set, else the single workspace of SLACK_BOT_TOKEN.
    ``http``: verify request signatures (HTTP mode); Socket Mode needs no signing secret.
    ``listener_executor``: where Bolt runs listeners after acknowledging (tests track it).
    """
    settings = settings or get_settings()
    if service is None:
        if not settings.broker_url:
            raise ConfigError(NEEDS_BROKER)
        service = ConversationService(settings)
    if oauth is None and oauth_configured(settings):
        oauth = oauth_settings(service.url, settings)
    bot_token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    if oauth is None and not bot_token:
        raise ConfigError("SLACK_BOT_TOKEN is not set (xoxb-..., from your Slack app's OAuth & Permissions page); "
                          "or set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to install into many workspaces")
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    if http and not secret:
        raise ConfigError("SLACK_SIGNING_SECRET is not set (from your Slack app's Basic Information page); "
                          "HTTP mode checks every request's signature with it")
    options = dict(
        signing_secret=secret or "",
        request_verification_enabled=http,
        oauth_settings=oauth,
        # Checked by `musechat serve slack` with one clear line; constructing stays offline.
        token_verification_enabled=False,
        process_before_response=False,
    )
    if listener_executor is not None:
        options["listener_executor"] = listener_executor
    if client is None:
        app = App(token=None if oauth else bot_token, **options)
    else:
        if oauth is None and client.token is None:
            client.token = bot_token
        app = App(client=client, **options)
    client = with_rate_limit_retries(app.client)
    if oauth is not None:
        app.enable_token_revocation_listeners()  # forget a workspace's tokens when it removes the app
    tokens = Tokens(client, oauth.installation_store if oauth else None)
    deliverer = Deliverer(service, tokens, poll_s=poll_s)
    bot = SlackBot(app=app, service=service, settings=settings, tokens=tokens,
                   intake=Intake(service, deliverer, settings), deliverer=deliverer)

    def attach(context, next):  # noqa: A002 (Bolt's middleware signature)
        context["musechat"] = bot
        next()

    app.use(attach)
    from bots.slack.listeners import register

    register(app)
    return bot


# --- transports ---------------------------------------------------------------------------

class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        log.debug("%s %s", self.address_string(), format % args)


def wsgi_app(bot: SlackBot):
    """The WSGI application of HTTP mode: Bolt at /slack/events (and the OAuth paths),
    plus an unauthenticated /healthz for load balancers."""
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    bolt = SlackRequestHandler(bot.app, path=EVENTS_PATH)

    def application(environ, start_response):
        if environ.get("PATH_INFO") == HEALTH_PATH:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        return bolt(environ, start_response)

    return application


def http_server(bot: SlackBot, host: str = "0.0.0.0", port: int = 3000) -> WSGIServer:
    """A threaded HTTP server for ``bot`` on ``host:port`` (port 0: any free port)."""
    return make_server(host, port, wsgi_app(bot), server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)


def serve_http(bot: SlackBot, host: str, port: int, ready: threading.Event | None = None) -> None:
    server = http_server(bot, host, port)
    bot.start()
    log.info("Slack HTTP mode on http://%s:%s%s", host, server.server_port, EVENTS_PATH)
    if ready:
        ready.set()
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        bot.stop()


def serve_socket(bot: SlackBot, app_token: str) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(bot.app, app_token=app_token)
    bot.start()
    try:
        handler.start()  # blocks; the builtin client reconnects by itself
    finally:
        handler.close()
        bot.stop()
