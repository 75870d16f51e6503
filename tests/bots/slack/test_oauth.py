"""Multi-workspace installs: Slack's OAuth flow round trip into slack_sdk's
SQLAlchemyInstallationStore in MuseChat's migrated database, then the new workspace's
events answered with its own bot token; removing the app forgets the token."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest
from sqlalchemy import create_engine, inspect, select
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

from bots.slack.installs import oauth_configured, oauth_settings
from core.db.models import Conversation
from core.db.session import get_engine, session_scope
from tests.bots.slack.conftest import store_answer
from tests.bots.slack.slack_requests import mention

CLIENT_ID = "1111.2222"


def _get(url: str, cookie: str | None = None):
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode()


def test_client_credentials_come_from_the_settings(recorded_service, monkeypatch):
    from core.config import Settings

    monkeypatch.delenv("SLACK_CLIENT_ID", raising=False)
    monkeypatch.delenv("SLACK_CLIENT_SECRET", raising=False)
    assert not oauth_configured(Settings())
    monkeypatch.setenv("SLACK_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SLACK_CLIENT_SECRET", "from-env")
    monkeypatch.setenv("SLACK_REDIRECT_URI", "https://bot.example/slack/oauth_redirect")
    settings = Settings()
    assert oauth_configured(settings) and "from-env" not in repr(settings)  # a secret is never printed
    oauth = oauth_settings(recorded_service.url, settings)
    assert (oauth.client_id, oauth.client_secret, oauth.redirect_uri) == (
        CLIENT_ID, "from-env", "https://bot.example/slack/oauth_redirect")


@pytest.fixture
def oauth_run(serve, recorded_service):
    oauth = oauth_settings(recorded_service.url, client_id=CLIENT_ID, client_secret="client-secret")
    return serve(recorded_service, oauth=oauth)


def _install(run) -> str:
    status, headers, page = _get(run.url + "/slack/install")
    assert status == 200
    state = re.search(r"state=([0-9a-f-]+)", page).group(1)
    cookie = headers["Set-Cookie"].split(";")[0]
    assert cookie.endswith(state)
    status, _, page = _get(f"{run.url}/slack/oauth_redirect?code=code-123&state={state}", cookie)
    assert status == 200, page
    return state


def test_install_round_trip_then_the_workspace_is_served(oauth_run, mock_slack, clip):
    run = oauth_run
    state = _install(run)
    (exchange,) = mock_slack.calls_to("oauth.v2.access")
    assert exchange.params["code"] == "code-123"

    store = SQLAlchemyInstallationStore(client_id=CLIENT_ID, engine=get_engine(run.service.url))
    bot = store.find_bot(enterprise_id=None, team_id="T2")
    assert bot.bot_token == "xoxb-team-two" and bot.bot_user_id == "UBOT2"
    assert store.find_installation(enterprise_id=None, team_id="T2").user_id == "UINSTALLER"
    # The state was used up: replaying the callback fails.
    status, _, _ = _get(f"{run.url}/slack/oauth_redirect?code=code-123&state={state}",
                        f"slack-app-oauth-state={state}")
    assert status >= 400

    # An event from the new workspace is answered with that workspace's token.
    video = mock_slack.host_file("clip.mp4", clip)
    assert run.slack.event(mention(files=[video], channel="C2"), team="T2")[0] == 200
    run.settle()
    (listening,) = mock_slack.posts("C2")
    assert listening.token == "xoxb-team-two"
    assert [tok for _, tok in mock_slack.downloads] == ["xoxb-team-two"]
    with session_scope(run.service.url) as s:
        (conv,) = s.scalars(select(Conversation))
        assert conv.workspace_id == "T2"
    store_answer(run.service, run.service.dispatcher.submitted[0])
    assert run.bot.deliverer.tick() == 1
    assert mock_slack.posts("C2")[-1].token == "xoxb-team-two"

    # Removing the app from the workspace forgets its token.
    run.slack.event({"type": "app_uninstalled", "event_ts": "1.0"}, team="T2")
    run.settle()
    assert store.find_bot(enterprise_id=None, team_id="T2") is None


def test_workspace_that_never_installed_gets_nothing(oauth_run, mock_slack, clip):
    oauth_run.slack.event(mention(files=[mock_slack.host_file("clip.mp4", clip)]), team="T3")
    oauth_run.settle()
    assert mock_slack.posts() == [] and mock_slack.downloads == []


def test_migrated_tables_match_the_stores(recorded_service):
    """The stores' own table definitions (slack_sdk) agree with our migration."""
    engine = create_engine(recorded_service.url)
    insp = inspect(engine)
    stores = [SQLAlchemyInstallationStore(client_id="x", engine=engine),
              SQLAlchemyOAuthStateStore(expiration_seconds=60, engine=engine)]
    for store in stores:
        for table in store.metadata.sorted_tables:
            columns = {c["name"]: c for c in insp.get_columns(table.name)}
            assert set(columns) == {c.name for c in table.columns}, table.name
            for c in table.columns:
                assert columns[c.name]["nullable"] == c.nullable, (table.name, c.name)
                assert str(columns[c.name]["type"]) == c.type.compile(dialect=engine.dialect), (table.name, c.name)
            indexes = {i["name"] for i in insp.get_indexes(table.name)}
            assert {i.name for i in table.indexes} <= indexes
    engine.dispose()
