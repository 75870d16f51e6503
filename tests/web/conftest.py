"""Fixtures for the web app: a seeded database, accounts, signed-in HTTP clients, and a
live server with a headless Debian Chromium for the browser tests."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from core.config import Settings
from core.moderation import accounts
from tests.moderation.conftest import (  # noqa: F401  (fixtures shared with the moderation tests)
    fast_password_hashing,
    migrated_sqlite_template,
    real_hash_cost,
    sqlite_db,
)
from tests.services import free_port, unavailable, wait_port

ADMIN, MODERATOR = "ada", "mo"
PASSWORD = "a long enough password"
CHROMIUM = "/usr/bin/chromium"
# ENVIRONMENT.md: the flags Debian's Chromium needs here (a fresh profile comes from Playwright).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def web_settings(tmp_path, **overrides) -> Settings:
    return Settings(data_dir=tmp_path / "data", **overrides)


@pytest.fixture
def console_db(sqlite_db) -> str:
    """A migrated database with an admin and a moderator account."""
    accounts.create_moderator(ADMIN, PASSWORD, "admin", url=sqlite_db)
    accounts.create_moderator(MODERATOR, PASSWORD, "moderator", url=sqlite_db)
    return sqlite_db


def make_client(url: str, settings: Settings, **kw) -> TestClient:
    from bots.web import create_app

    return TestClient(create_app(settings, database_url=url), **kw)


def sign_in(client: TestClient, name: str, password: str = PASSWORD, **headers):
    page = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"name": name, "password": password, "login_token": token,
                                       "next": "/conversations"}, headers=headers, follow_redirects=False)


def csrf_of(client: TestClient) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/conversations").text).group(1)


@pytest.fixture
def anon(console_db, tmp_path) -> TestClient:
    return make_client(console_db, web_settings(tmp_path))


@pytest.fixture
def admin_client(console_db, tmp_path) -> TestClient:
    client = make_client(console_db, web_settings(tmp_path))
    assert sign_in(client, ADMIN).status_code == 303
    return client


@pytest.fixture
def mod_client(console_db, tmp_path) -> TestClient:
    client = make_client(console_db, web_settings(tmp_path))
    assert sign_in(client, MODERATOR).status_code == 303
    return client


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The session's real installation (generated catalog, index, models), as the
    conversation and worker tests use it."""
    from tests.conversation.stack import build_stack

    return build_stack(tmp_path_factory.mktemp("stack"))


# --- the browser ---------------------------------------------------------------------------

@dataclass
class LiveServer:
    url: str
    server: object
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def live_server(app) -> LiveServer:
    """Serve ``app`` with uvicorn on a free port, in a thread of this process."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_port(port)
    return LiveServer(f"http://127.0.0.1:{port}", server, thread)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright (its own browser download fails here)."""
    import os

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python")
    if not os.path.exists(CHROMIUM):
        unavailable(f"Chromium at {CHROMIUM} (Debian package chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def browser_sign_in(page, base: str, name: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/conversations")
    assert "/login" in page.url  # sent to sign in first
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/conversations$"))
