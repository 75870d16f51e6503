"""Which bot token answers in which workspace.

One workspace: ``SLACK_BOT_TOKEN``. Many workspaces: Slack's OAuth install flow (HTTP
mode serves ``/slack/install`` and ``/slack/oauth_redirect``) stores each workspace's
bot token with slack_sdk's ``SQLAlchemyInstallationStore`` in MuseChat's database; the
tables belong to our Alembic migrations (``musechat db upgrade`` creates them), so the
stores never create tables themselves. OAuth is on when ``SLACK_CLIENT_ID`` and
``SLACK_CLIENT_SECRET`` are set (Slack's own variable names, read through the settings,
so a ``.env`` file works too).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.oauth.installation_store import InstallationStore
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

from core.config import Settings
from core.db.session import get_engine

# Everything the app does: read mentions and thread replies, post and edit its replies,
# read shared files, /musechat.
BOT_SCOPES = ("app_mentions:read", "channels:history", "groups:history", "im:history", "mpim:history",
              "chat:write", "files:read", "commands")
STATE_EXPIRATION_S = 600
# 429s are retried after Slack's Retry-After; a burst of deliveries waits instead of failing.
RATE_LIMIT_RETRIES = 5


def web_client(token: str | None = None, *, base_url: str | None = None) -> WebClient:
    """A WebClient that waits out rate limits (``RateLimitErrorRetryHandler``)."""
    kwargs = {"base_url": base_url} if base_url else {}
    return with_rate_limit_retries(WebClient(token=token, **kwargs))


def with_rate_limit_retries(client: WebClient) -> WebClient:
    """Make ``client`` retry 429 answers after Slack's Retry-After (and keep its other retries)."""
    if not any(isinstance(h, RateLimitErrorRetryHandler) for h in client.retry_handlers):
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES))
    return client


def oauth_configured(settings: Settings) -> bool:
    return bool(settings.slack_client_id and settings.slack_client_secret)


def oauth_settings(database_url: str, settings: Settings | None = None, *, client_id: str | None = None,
                   client_secret: str | None = None, redirect_uri: str | None = None) -> OAuthSettings:
    """Bolt's OAuth settings with both stores in MuseChat's database (credentials from the
    arguments, else the settings: SLACK_CLIENT_ID / SLACK_CLIENT_SECRET / SLACK_REDIRECT_URI)."""
    if settings is not None:
        client_id = client_id or settings.slack_client_id
        secret = settings.slack_client_secret
        client_secret = client_secret or (secret.get_secret_value() if secret else None)
        redirect_uri = redirect_uri or settings.slack_redirect_uri
    if not client_id or not client_secret:
        raise ValueError("the Slack OAuth flow needs SLACK_CLIENT_ID and SLACK_CLIENT_SECRET")
    engine = get_engine(database_url)
    return OAuthSettings(
        client_id=client_id,
        client_secret=client_secret,
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=redirect_uri,
        installation_store=SQLAlchemyInstallationStore(client_id=client_id, engine=engine),
        # In the database, not a cookie-only check: any replica can finish an install.
        state_store=SQLAlchemyOAuthStateStore(expiration_seconds=STATE_EXPIRATION_S, engine=engine),
        installation_store_bot_only=True,
    )


def workspace_key(team_id: str | None, enterprise_id: str | None = None,
                  is_enterprise_install: bool = False) -> str | None:
    """``Conversation.workspace_id`` for a request: the team, prefixed by its Enterprise
    Grid org when there is one (``"E1:T1"``; an org-wide install is ``"E1:"``)."""
    if enterprise_id:
        return f"{enterprise_id}:{'' if is_enterprise_install else (team_id or '')}"
    return team_id


@dataclass
class Tokens:
    """Bot clients by workspace: one static token, or the installation store's."""

    base: WebClient
    store: InstallationStore | None = None

    def __post_init__(self) -> None:
        self._clients: dict[str, WebClient] = {}
        self._lock = threading.Lock()

    def client_for(self, workspace: str | None) -> WebClient | None:
        """The client that speaks for the bot in ``workspace`` (None: not installed there)."""
        if self.store is None:
            return self.base if self.base.token else None
        enterprise_id, sep, team_id = (workspace or "").rpartition(":")
        if sep:
            bot = self.store.find_bot(enterprise_id=enterprise_id, team_id=team_id or None,
                                      is_enterprise_install=not team_id)
        else:
            bot = self.store.find_bot(enterprise_id=None, team_id=team_id or None)
        if bot is None or not bot.bot_token:
            return None
        return self._client(bot.bot_token)

    def _client(self, token: str) -> WebClient:
        with self._lock:
            if token not in self._clients:
                self._clients[token] = WebClient(token=token, base_url=self.base.base_url, timeout=self.base.timeout,
                                                 retry_handlers=list(self.base.retry_handlers))
            return self._clients[token]
