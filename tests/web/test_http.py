"""The web app over HTTP: sign-in required everywhere, roles, CSRF, other origins, cookie
flags, escaping, rate limits, range requests."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from core.db.models import AuditLog, Conversation, ModeratorSession
from core.db.session import session_scope
from tests.moderation.seed import add_conversation, add_tracks
from tests.web.conftest import ADMIN, MODERATOR, csrf_of, make_client, sign_in, web_settings

PAGES = ["/conversations", "/conversations/1", "/conversations/1/thumbnails.jpg", "/audit", "/users/delete",
         "/playground", "/playground/1", "/tracks/1/audio", "/conversations?flagged=1&q=x"]
ACTIONS = ["/conversations/1/flag", "/conversations/1/unflag", "/conversations/1/delete", "/export",
           "/users/delete", "/playground", "/playground/1/reply", "/playground/picks/1/react", "/logout"]


@pytest.fixture
def conv(console_db, tmp_path) -> int:
    add_tracks(console_db, audio_dir=tmp_path / "audio")
    return add_conversation(console_db, platform="discord", user_id="42")


def _flagged(url, cid) -> bool:
    with session_scope(url) as s:
        return s.get(Conversation, cid).flagged


def _exists(url, cid) -> bool:
    with session_scope(url) as s:
        return s.get(Conversation, cid) is not None


def test_every_page_and_action_is_refused_without_sign_in(anon, conv, console_db):
    for path in PAGES:
        r = anon.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    for path in ACTIONS:
        r = anon.post(path, data={"reason": "x", "confirm": "yes", "format": "csv", "identities": "42"},
                      follow_redirects=False)
        assert r.status_code == 401, path
    assert not _flagged(console_db, conv) and _exists(console_db, conv)
    assert anon.get("/login").status_code == 200 and anon.get("/static/console.css").status_code == 200


def test_a_moderator_can_flag_but_not_delete_or_export(mod_client, conv, console_db):
    token = csrf_of(mod_client)
    r = mod_client.post(f"/conversations/{conv}/flag", data={"csrf_token": token, "reason": "spam"},
                        follow_redirects=False)
    assert r.status_code == 303 and _flagged(console_db, conv)
    page = mod_client.get(f"/conversations/{conv}").text
    assert "Delete conversation" not in page and "Export" not in mod_client.get("/conversations").text
    for path, data in ((f"/conversations/{conv}/delete", {"confirm": "yes"}), ("/export", {"format": "csv"}),
                       ("/users/delete", {"identities": "42", "confirm": "yes"})):
        r = mod_client.post(path, data={"csrf_token": token, **data})
        assert r.status_code == 403 and "admin" in r.text, path
    assert mod_client.get("/users/delete").status_code == 403
    assert _exists(console_db, conv)
    with session_scope(console_db) as s:
        actions = set(s.scalars(select(AuditLog.action)))
    assert "export" not in actions and "delete_conversation" not in actions


def test_an_admin_can_delete_and_export(admin_client, conv, console_db):
    token = csrf_of(admin_client)
    r = admin_client.post("/export", data={"csrf_token": token, "format": "json", "platform": "discord"})
    assert r.status_code == 200 and r.json()["count"] == 1
    assert r.headers["content-disposition"].startswith("attachment;")
    r = admin_client.post(f"/conversations/{conv}/delete", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 400 and _exists(console_db, conv)  # not confirmed
    r = admin_client.post(f"/conversations/{conv}/delete", data={"csrf_token": token, "confirm": "yes"},
                          follow_redirects=False)
    assert r.status_code == 303 and not _exists(console_db, conv)
    assert admin_client.get(f"/conversations/{conv}").status_code == 404


def test_a_post_without_the_right_csrf_token_is_refused(admin_client, mod_client, conv, console_db):
    other_token = csrf_of(mod_client)
    for data in ({}, {"csrf_token": ""}, {"csrf_token": "forged"}, {"csrf_token": other_token}):
        for path in (f"/conversations/{conv}/flag", f"/conversations/{conv}/delete", "/logout"):
            r = admin_client.post(path, data={"reason": "x", "confirm": "yes", **data}, follow_redirects=False)
            assert r.status_code == 403 and "CSRF" in r.text, (path, data)
    assert not _flagged(console_db, conv) and _exists(console_db, conv)
    assert admin_client.get("/conversations").status_code == 200  # the logout did not happen either
    # The token also works as a header (for scripts), and only the right one.
    r = admin_client.post(f"/conversations/{conv}/flag", data={"reason": "x"},
                          headers={"x-csrf-token": csrf_of(admin_client)}, follow_redirects=False)
    assert r.status_code == 303 and _flagged(console_db, conv)


def test_another_origin_cannot_use_the_session(admin_client, conv, console_db, tmp_path):
    token = csrf_of(admin_client)
    for headers in ({"origin": "https://evil.example"}, {"origin": "null"},
                    {"referer": "https://evil.example/page"}, {"sec-fetch-site": "cross-site"},
                    {"origin": "https://testserver"}):  # same host, other scheme: another origin
        r = admin_client.post(f"/conversations/{conv}/flag", data={"csrf_token": token, "reason": "x"},
                              headers=headers, follow_redirects=False)
        assert r.status_code == 403, headers
    assert not _flagged(console_db, conv)
    # Another site can neither embed nor fetch the console's pages and media with the cookie...
    for path in ("/tracks/1/audio", "/conversations", f"/conversations/{conv}"):
        r = admin_client.get(path, headers={"sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors"})
        assert r.status_code == 403, path
    r = admin_client.get("/conversations", headers={"sec-fetch-site": "cross-site", "sec-fetch-mode": "cors",
                                                    "origin": "https://evil.example"})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    # ...but a link from chat still opens it (top-level navigation), and same-origin posts work.
    r = admin_client.get("/conversations", headers={"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"})
    assert r.status_code == 200
    r = admin_client.post(f"/conversations/{conv}/flag", data={"csrf_token": token, "reason": "x"},
                          headers={"origin": "http://testserver", "sec-fetch-site": "same-origin"},
                          follow_redirects=False)
    assert r.status_code == 303
    # The login form is protected the same way.
    fresh = make_client(console_db, web_settings(tmp_path))
    assert sign_in(fresh, ADMIN, origin="https://evil.example").status_code == 403


def test_session_cookie_flags(console_db, tmp_path):
    plain = make_client(console_db, web_settings(tmp_path))
    cookie = sign_in(plain, ADMIN).headers["set-cookie"]
    assert cookie.startswith("musechat_session=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie and "Path=/" in cookie

    proxied = make_client(console_db, web_settings(tmp_path, web_trust_proxy=True))
    cookie = sign_in(proxied, ADMIN, **{"x-forwarded-proto": "https"}).headers["set-cookie"]
    assert cookie.startswith("__Host-musechat_session=") and "Secure" in cookie and "HttpOnly" in cookie

    # X-Forwarded-Proto from a client is ignored unless the proxy is trusted.
    untrusted = make_client(console_db, web_settings(tmp_path))
    cookie = sign_in(untrusted, ADMIN, **{"x-forwarded-proto": "https"}).headers["set-cookie"]
    assert "Secure" not in cookie

    strict = make_client(console_db, web_settings(tmp_path, web_secure_cookies="always", web_cookie_samesite="strict"),
                         base_url="https://testserver")
    cookie = sign_in(strict, MODERATOR).headers["set-cookie"]
    assert "Secure" in cookie and "SameSite=strict" in cookie


def test_sign_in_is_rate_limited_and_sign_out_ends_the_session(console_db, tmp_path):
    client = make_client(console_db, web_settings(tmp_path, web_login_max_failures=3))
    for _ in range(3):
        r = sign_in(client, ADMIN, "wrong password")
        assert r.status_code == 401 and "Wrong name or password" in r.text
    r = sign_in(client, ADMIN)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and "Too many failed sign-ins" in r.text

    client = make_client(console_db, web_settings(tmp_path))
    assert sign_in(client, MODERATOR).status_code == 303
    r = client.post("/logout", data={"csrf_token": csrf_of(client)}, follow_redirects=False)
    assert r.status_code == 303 and 'musechat_session=""' in r.headers["set-cookie"]
    with session_scope(console_db) as s:
        assert s.scalar(select(func.count()).select_from(ModeratorSession)) == 0
    assert client.get("/conversations", follow_redirects=False).status_code == 303


def test_no_open_redirect_after_sign_in(anon, console_db, tmp_path):
    assert 'name="next" value="/conversations"' in anon.get("/login?next=//evil.example/x").text
    for target in ("//evil.example", "https://evil.example", "/\\evil.example", "/conversations/1"):
        client = make_client(console_db, web_settings(tmp_path))
        token = re.search(r'name="login_token" value="([^"]+)"', client.get("/login").text).group(1)
        r = client.post("/login", data={"name": MODERATOR, "password": "a long enough password",
                                        "login_token": token, "next": target}, follow_redirects=False)
        assert r.headers["location"] == ("/conversations/1" if target == "/conversations/1" else "/conversations")


def test_feedback_text_is_shown_escaped(admin_client, console_db):
    add_tracks(console_db)
    script = '<script>alert("pwned")</script>'
    sql = "'; DROP TABLE conversations; --"
    cid = add_conversation(console_db, user_name='<img src=x onerror="alert(1)">',
                           feedback=[script, sql, "\u202eRTL and emoji 🎵"], flagged_reason="<b>bold</b>")
    for path in ("/conversations", f"/conversations/{cid}", f"/conversations?q={sql}", "/audit"):
        html = admin_client.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold</b>" not in html, path
    detail = admin_client.get(f"/conversations/{cid}").text
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in detail
    assert "&#39;; DROP TABLE conversations; --" in detail and "🎵" in detail and "&lt;b&gt;bold&lt;/b&gt;" in detail
    found = admin_client.get("/conversations", params={"q": "DROP TABLE"})
    assert re.search(r'<strong id="total">1 conversation<', found.text)
    assert admin_client.get("/conversations", params={"q": "' OR '1'='1"}).text.count('href="/conversations/') == 0
    r = admin_client.get("/conversations", params={"q": '"><script>x()</script>'})
    assert "<script>x()" not in r.text and "script-src" not in r.headers["content-security-policy"]
    assert "default-src 'none'" in r.headers["content-security-policy"]
    with session_scope(console_db) as s:  # and the SQL-like text did nothing, of course
        assert s.scalar(select(func.count()).select_from(Conversation)) == 1


def test_track_audio_streams_with_range_requests(admin_client, conv):
    whole = admin_client.get("/tracks/1/audio")
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"].startswith("audio/")
    part = admin_client.get("/tracks/1/audio", headers={"range": "bytes=100-199"})
    assert part.status_code == 206 and len(part.content) == 100 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    assert admin_client.get("/tracks/999/audio").status_code == 404


def test_the_audit_log_is_read_only(admin_client, conv):
    token = csrf_of(admin_client)
    admin_client.post(f"/conversations/{conv}/flag", data={"csrf_token": token, "reason": "check"})
    page = admin_client.get("/audit", params={"action": "flag"}).text
    assert f"conversation:{conv}" in page and "<form" in page and 'method="post" action="/audit' not in page
    for method in ("post", "put", "delete", "patch"):
        assert getattr(admin_client, method)("/audit").status_code == 405


def test_uploads_over_the_limit_are_refused_before_reading(admin_client):
    r = admin_client.post("/playground", content=b"x" * 100, headers={
        "content-type": "multipart/form-data; boundary=b", "content-length": str(10**10)})
    assert r.status_code == 413


def test_the_turn_detail_shows_the_video_facts(mod_client, console_db, tmp_path):
    from sqlalchemy import update

    from core.db.models import Video
    from core.video_facts import ContentLabel, VideoFacts

    add_tracks(console_db, audio_dir=tmp_path / "audio")
    conv = add_conversation(console_db, video_hash="f" * 64)

    facts = VideoFacts(motion=0.41, cuts_per_min=32, brightness=0.2, contrast=0.3, colourfulness=70, warmth=0.1,
                       colours=["blue", "white"], labels=[ContentLabel("snow sports", 0.83, "imagenet-groups")])
    with session_scope(console_db) as s:
        s.execute(update(Video).where(Video.content_hash == "f" * 64).values(facts=facts.to_dict()))
    page = mod_client.get(f"/conversations/{conv}").text
    assert "Video facts" in page
    for words in ("fast-paced", "frequent cuts", "dark", "mostly blue and white", "snow sports 83%", "32 cuts/min"):
        assert words in page, words
