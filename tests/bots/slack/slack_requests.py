"""Requests as Slack sends them: Events API callbacks, slash commands and interactions,
signed with the app's signing secret (``X-Slack-Signature`` v0 HMAC over
``v0:{timestamp}:{body}``, as slack_sdk's ``SignatureVerifier`` checks it)."""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from slack_sdk.signature import SignatureVerifier

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_USER = "UBOT"
_ids = itertools.count(1)


def next_ts() -> str:
    return f"{1600000000 + next(_ids)}.000200"


def signed_headers(body: str, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)}


def post(url: str, body: str, content_type: str, headers: dict[str, str]) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body.encode(), method="POST",
                                 headers={"Content-Type": content_type, **headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class Slack:
    """Sends signed requests to the app at ``url`` (its /slack/events endpoint)."""

    def __init__(self, url: str, secret: str = SECRET, team: str = "T1"):
        self.url, self.secret, self.team = url, secret, team

    def send(self, body: str, content_type: str, *, extra: dict | None = None, sign: bool = True,
             timestamp: int | None = None, secret: str | None = None) -> tuple[int, str]:
        headers = signed_headers(body, secret or self.secret, timestamp) if sign else {}
        return post(self.url, body, content_type, {**headers, **(extra or {})})

    # --- Events API ----------------------------------------------------------------------

    def event(self, event: dict, *, event_id: str | None = None, retry_num: int | None = None,
              team: str | None = None, **kw) -> tuple[int, str]:
        team = team or self.team
        body = json.dumps({
            "token": "unused", "team_id": team, "api_app_id": "A1", "type": "event_callback",
            "event_id": event_id or f"Ev{next(_ids):08d}", "event_time": int(time.time()), "event": event,
            "authorizations": [{"enterprise_id": None, "team_id": team, "user_id": BOT_USER, "is_bot": True,
                                "is_enterprise_install": False}]})
        extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else {}
        return self.send(body, "application/json", extra=extra, **kw)

    # --- slash commands and interactions ------------------------------------------------------

    def command(self, text: str, *, user: str = "U1", channel: str = "C1", response_url: str = "") -> tuple[int, str]:
        body = urllib.parse.urlencode({
            "token": "unused", "team_id": self.team, "team_domain": "test", "channel_id": channel,
            "channel_name": "general", "user_id": user, "user_name": "someone", "command": "/musechat",
            "text": text, "api_app_id": "A1", "response_url": response_url, "trigger_id": f"tr{next(_ids)}"})
        return self.send(body, "application/x-www-form-urlencoded")

    def interaction(self, payload: dict) -> tuple[int, str]:
        payload = {"team": {"id": self.team, "domain": "test"}, "api_app_id": "A1", "token": "unused",
                   "trigger_id": f"tr{next(_ids)}", **payload}
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return self.send(body, "application/x-www-form-urlencoded")

    def click(self, action_id: str, value: str, *, user: str = "U1", channel: str = "C1", message_ts: str,
              thread_ts: str | None = None) -> tuple[int, str]:
        return self.interaction({
            "type": "block_actions", "user": {"id": user, "team_id": self.team},
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
            "channel": {"id": channel, "name": "general"},
            "message": {"type": "message", "ts": message_ts, "thread_ts": thread_ts, "text": "", "user": BOT_USER},
            "response_url": "", "actions": [{"type": "button", "action_id": action_id, "block_id": "b",
                                             "value": value, "action_ts": f"{time.time():.6f}"}]})

    def submit_view(self, view: dict, *, user: str = "U1", text: str | None = None,
                    options: list[str] = ()) -> tuple[int, str]:
        values = {"feedback": {"text": {"type": "plain_text_input", "value": text}},
                  "quick": {"options": {"type": "checkboxes",
                                        "selected_options": [{"value": o} for o in options]}}}
        return self.interaction({
            "type": "view_submission", "user": {"id": user, "team_id": self.team},
            "view": {**view, "id": view.get("id") or f"V{next(_ids)}", "team_id": self.team,
                     "state": {"values": values}}})

    def shortcut(self, message: dict, *, user: str = "U1", channel: str = "C1") -> tuple[int, str]:
        return self.interaction({
            "type": "message_action", "callback_id": "recommend_music", "user": {"id": user, "team_id": self.team},
            "channel": {"id": channel, "name": "general"}, "message": message, "message_ts": message["ts"],
            "response_url": ""})


def mention(text: str = "", *, files: list[dict] = (), channel: str = "C1", user: str = "U1",
            ts: str | None = None, thread_ts: str | None = None) -> dict:
    ts = ts or next_ts()
    event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER}> {text}".strip(), "channel": channel,
             "ts": ts, "event_ts": ts}
    if files:
        event["files"] = list(files)
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def message(text: str = "", *, files: list[dict] = (), channel: str = "C1", user: str = "U1",
            ts: str | None = None, thread_ts: str | None = None, channel_type: str = "channel") -> dict:
    ts = ts or next_ts()
    event = {"type": "message", "user": user, "text": text, "channel": channel, "channel_type": channel_type,
             "ts": ts, "event_ts": ts}
    if files:
        event["files"] = list(files)
        event["subtype"] = "file_share"
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event
