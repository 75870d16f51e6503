"""A local stand-in for Slack: the Web API methods the app calls, private file downloads,
``response_url`` endpoints — on 127.0.0.1, port 0, recording every call.

It behaves like Slack where the app depends on it: files are served only to a request
carrying a known bot token (anything else is redirected to an HTML sign-in page, as
slack.com does), ``chat.update`` of an unknown message fails with ``message_not_found``,
and a method can be told to fail or answer 429 with ``Retry-After`` a given number of
times.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOGIN_PAGE = b"<!DOCTYPE html>\n<html><head><title>Sign in | Slack</title></head><body>Sign in</body></html>"


@dataclass
class Call:
    method: str
    params: dict
    token: str | None
    at: float = field(default_factory=time.monotonic)


@dataclass
class Hosted:
    data: bytes
    content_type: str
    html: bool = False  # always answer with the sign-in page (auth lost on the way)


class MockSlack:
    def __init__(self, tokens: dict[str, str] | None = None):
        """``tokens``: bot token -> team id it belongs to."""
        self.tokens = dict(tokens or {"xoxb-test": "T1"})
        self.calls: list[Call] = []
        self.downloads: list[tuple[str, str | None]] = []  # (path, token)
        self.responses: list[dict] = []  # bodies posted to response_url
        self.hosted: dict[str, Hosted] = {}
        self.file_info: dict[str, dict] = {}
        self.messages: dict[tuple[str, str], dict] = {}  # (channel, ts) -> last text/blocks
        self.fail: dict[str, list[str]] = {}  # method -> errors to answer with, one per call
        self.rate_limit: dict[str, int] = {}  # method -> how many 429s before answering
        self.file_tokens: set[str] | None = None  # tokens the files host accepts (None: the API's)
        self.oauth_team = ("T2", "xoxb-team-two")
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    @property
    def base_url(self) -> str:
        return self.url + "/api/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- set-up ---------------------------------------------------------------------------

    def host_file(self, name: str, data: bytes, *, mimetype: str = "video/mp4", filetype: str = "mp4",
                  html: bool = False, size: int | None = None, details: bool = True) -> dict:
        """Serve ``data`` as a private file; returns the file object an event carries
        (``details=False``: only its id, so the app must ask ``files.info``)."""
        fid = f"F{next(self._ids):06d}"
        path = f"/files-pri/T1-{fid}/download/{name}"
        self.hosted[path] = Hosted(data, mimetype, html)
        full = {"id": fid, "name": name, "title": name, "mimetype": mimetype, "filetype": filetype,
                "size": len(data) if size is None else size, "mode": "hosted",
                "url_private": self.url + path, "url_private_download": self.url + path}
        self.file_info[fid] = full
        return dict(full) if details else {"id": fid, "mode": "hosted", "file_access": "check_file_info"}

    def response_url(self) -> str:
        return f"{self.url}/respond/{next(self._ids)}"

    # --- reading what happened -------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, predicate, timeout: float = 10.0, what: str = "condition"):
        """Wait until ``predicate()`` is truthy (re-checked on every call); returns its value."""
        end = time.monotonic() + timeout
        while True:
            value = predicate()  # outside the lock: it may call this server
            if value:
                return value
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; calls: {[c.method for c in self.calls]}")
            with self._changed:
                self._changed.wait(min(left, 0.1))

    def posts(self, channel: str | None = None) -> list[Call]:
        return [c for c in self.calls_to("chat.postMessage") if channel is None or c.params.get("channel") == channel]

    # --- the server ----------------------------------------------------------------------------

    def _record(self, call: Call) -> None:
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def _answer(self, method: str, params: dict, token: str | None) -> tuple[int, dict, dict]:
        with self._lock:
            if self.rate_limit.get(method, 0) > 0:
                self.rate_limit[method] -= 1
                return 429, {"Retry-After": "0"}, {"ok": False, "error": "ratelimited"}
            if self.fail.get(method):
                return 200, {}, {"ok": False, "error": self.fail[method].pop(0)}
        if method == "oauth.v2.access":
            team, bot_token = self.oauth_team
            self.tokens[bot_token] = team
            return 200, {}, {"ok": True, "app_id": "A1", "authed_user": {"id": "UINSTALLER"}, "scope": "chat:write",
                             "token_type": "bot", "access_token": bot_token, "bot_user_id": "UBOT2",
                             "team": {"id": team, "name": "Team Two"}, "enterprise": None,
                             "is_enterprise_install": False}
        if token not in self.tokens:
            return 200, {}, {"ok": False, "error": "invalid_auth" if token else "not_authed"}
        team = self.tokens[token]
        if method == "auth.test":
            return 200, {}, {"ok": True, "url": "https://test.slack.com/", "team": "Test", "user": "musechat",
                             "team_id": team, "user_id": "UBOT", "bot_id": "BBOT", "is_enterprise_install": False}
        if method == "chat.postMessage":
            ts = f"{1700000000 + next(self._ids)}.000100"
            with self._lock:
                self.messages[(params.get("channel"), ts)] = params
            return 200, {}, {"ok": True, "channel": params.get("channel"), "ts": ts, "message": {"ts": ts}}
        if method in ("chat.update", "chat.delete"):
            key = (params.get("channel"), params.get("ts"))
            with self._lock:
                if key not in self.messages:
                    return 200, {}, {"ok": False, "error": "message_not_found"}
                if method == "chat.update":
                    self.messages[key] = {**self.messages[key], **params}  # stays in its thread
                else:
                    del self.messages[key]
            return 200, {}, {"ok": True, "channel": key[0], "ts": key[1]}
        if method == "conversations.replies":  # a thread: its root and replies, oldest first
            channel, root = params.get("channel"), params.get("ts")
            with self._lock:
                msgs = [{"ts": ts, "thread_ts": m.get("thread_ts") or ts, "blocks": m.get("blocks") or [],
                         "text": m.get("text", ""), "bot_id": "BBOT"}
                        for (ch, ts), m in sorted(self.messages.items())
                        if ch == channel and (ts == root or m.get("thread_ts") == root)]
            return 200, {}, {"ok": True, "messages": msgs, "has_more": False}
        if method == "chat.postEphemeral":
            return 200, {}, {"ok": True, "message_ts": f"{time.time():.6f}"}
        if method == "views.open":
            return 200, {}, {"ok": True, "view": {"id": f"V{next(self._ids)}", **(params.get("view") or {})}}
        if method == "files.info":
            info = self.file_info.get(params.get("file"))
            if info is None:
                return 200, {}, {"ok": False, "error": "file_not_found"}
            return 200, {}, {"ok": True, "file": info}
        return 200, {}, {"ok": True}

    def _handler(self):
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _token(self) -> str | None:
                auth = self.headers.get("Authorization") or ""
                return auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None

            def _params(self) -> dict:
                url = urllib.parse.urlsplit(self.path)
                params = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if raw:
                    if "json" in (self.headers.get("Content-Type") or ""):
                        params.update(json.loads(raw))
                    else:
                        params.update({k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode()).items()})
                for key in ("blocks", "view"):
                    if isinstance(params.get(key), str):
                        params[key] = json.loads(params[key])
                return params

            def do_GET(self):  # noqa: N802
                path = urllib.parse.urlsplit(self.path).path
                if path.startswith("/api/"):
                    return self._api(path)
                if path == "/login":
                    return self._send(200, LOGIN_PAGE, "text/html; charset=utf-8")
                hosted = mock.hosted.get(path)
                token = self._token()
                with mock._changed:
                    mock.downloads.append((path, token))
                    mock._changed.notify_all()
                if hosted is None:
                    return self._send(404, b"not found", "text/plain")
                allowed = mock.tokens if mock.file_tokens is None else mock.file_tokens
                if hosted.html or token not in allowed:
                    # What slack.com does for a request without a valid token.
                    return self._send(302, b"", "text/plain", {"Location": "/login"})
                self._send(200, hosted.data, hosted.content_type)

            def do_POST(self):  # noqa: N802
                path = urllib.parse.urlsplit(self.path).path
                if path.startswith("/respond/"):
                    body = self._params()
                    with mock._changed:
                        mock.responses.append(body)
                        mock._changed.notify_all()
                    return self._send(200, b"ok", "text/plain")
                return self._api(path)

            def _api(self, path: str) -> None:
                method = path.removeprefix("/api/")
                params = self._params()
                token = self._token()
                if method == "oauth.v2.access":
                    token = None  # basic auth with the client id/secret
                status, headers, body = mock._answer(method, params, token)
                mock._record(Call(method, params, token))
                self._send(status, json.dumps(body).encode(), "application/json; charset=utf-8", headers)

        return Handler
