"""A small, faithful Discord for offline tests: REST API, gateway and CDN on one local port.

The bot under test is a real ``discord.py`` client. Its HTTP client, webhook adapter
(interaction responses) and gateway websocket talk to this server exactly as they talk
to Discord: REST routes under ``/api/v10``, a zlib-stream compressed gateway that says
HELLO, answers IDENTIFY with READY and GUILD_CREATE, acknowledges heartbeats and replays
missed events on RESUME, and attachment downloads from a CDN path.

What Discord does on its side is done here too, because the bot depends on it:
messages the bot sends come back to it as MESSAGE_CREATE; a thread started from a
message gets the message's id and a THREAD_CREATE; a message can have one thread only
(error 160004); an interaction can be answered once (40060); ephemeral messages are not
broadcast; without the MESSAGE_CONTENT intent a guild message that does not mention the
bot arrives with empty content and attachments.

Tests drive users through :meth:`FakeDiscord.user_message`, :meth:`slash_command`,
:meth:`message_command`, :meth:`click` and :meth:`submit_modal`, and read what the bot
did from :attr:`messages`, :attr:`threads`, :attr:`interactions` and :attr:`requests`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

import aiohttp
from aiohttp import web

DISCORD_EPOCH_MS = 1420070400000
MESSAGE_CONTENT_INTENT = 1 << 15
MANAGE_GUILD = 1 << 5
EPHEMERAL = 1 << 6
LOADING = 1 << 7
# Everything a bot would normally be granted (administrator excluded).
BOT_PERMISSIONS = (1 << 41) - 1 - (1 << 3)
MEMBER_PERMISSIONS = 0x0000_0000_0006_4C40  # view, send, read history, attach, embed, use app commands


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


class DiscordError(Exception):
    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Interaction:
    """An interaction the fake sent, and how the bot answered it."""

    id: int
    token: str
    type: int
    payload: dict
    responses: list[dict] = field(default_factory=list)  # callback bodies, in order
    original_message_id: int | None = None
    followups: list[int] = field(default_factory=list)

    @property
    def response(self) -> dict | None:
        return self.responses[0] if self.responses else None


class GatewaySession:
    def __init__(self, ws: web.WebSocketResponse, compress: bool):
        self.ws = ws
        self.compressor = zlib.compressobj() if compress else None
        self.intents = 0
        self.shard = (0, 1)
        self.session_id = secrets.token_hex(8)
        self.identified = asyncio.Event()
        self.lock = asyncio.Lock()

    async def send(self, payload: dict) -> None:
        raw = json.dumps(payload).encode()
        async with self.lock:
            if self.ws.closed:
                return
            if self.compressor is None:
                await self.ws.send_str(raw.decode())
            else:
                await self.ws.send_bytes(self.compressor.compress(raw) + self.compressor.flush(zlib.Z_SYNC_FLUSH))


class FakeDiscord:
    """One fake Discord: an application with a bot user, guilds, channels, people."""

    def __init__(self) -> None:
        self._ids = itertools.count()
        self.base_url = ""
        self.app_id = self.snowflake()
        self.bot_user = self.user_payload(self.app_id, "MuseChat", bot=True)
        self.users: dict[int, dict] = {self.app_id: self.bot_user}
        self.guilds: dict[int, dict] = {}
        self.channels: dict[int, dict] = {}
        self.messages: dict[int, dict] = {}  # every message, ephemeral ones included
        self.threads: dict[int, dict] = {}
        self.interactions: dict[int, Interaction] = {}
        self.commands: list[dict] = []
        self.cdn: dict[str, bytes] = {}
        self.cdn_downloads: list[str] = []
        self.reactions: list[tuple[int, str]] = []  # (message id, emoji) the bot added
        self.requests: list[tuple[str, str]] = []
        self.sessions: list[GatewaySession] = []
        self.events: list[tuple[int, str, dict]] = []  # (seq, event, data): the dispatch log for RESUME
        self._seq = 0
        self.fail_next: dict[tuple[str, str], DiscordError] = {}  # (method, path prefix) -> error, once
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    # --- ids and payload shapes ---------------------------------------------------------

    def snowflake(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._ids) & 0x3FFFFF)

    @staticmethod
    def user_payload(user_id: int, name: str, *, bot: bool = False) -> dict:
        return {"id": str(user_id), "username": name, "global_name": name, "discriminator": "0",
                "avatar": None, "bot": bot, "public_flags": 0}

    def add_user(self, name: str) -> dict:
        user = self.user_payload(self.snowflake(), name)
        self.users[int(user["id"])] = user
        return user

    def add_guild(self, name: str = "Film Club", *, channels: tuple[str, ...] = ("general",)) -> dict:
        guild_id = self.snowflake()
        guild = {
            "id": str(guild_id), "name": name, "icon": None, "owner_id": str(self.snowflake()),
            "roles": [{"id": str(guild_id), "name": "@everyone", "permissions": str(MEMBER_PERMISSIONS),
                       "position": 0, "color": 0, "hoist": False, "managed": False, "mentionable": False,
                       "flags": 0}],
            "emojis": [], "stickers": [], "features": [], "member_count": 2, "large": False,
            "unavailable": False, "joined_at": _now_iso(), "premium_tier": 0, "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0, "mfa_level": 0,
            "system_channel_flags": 0, "preferred_locale": "en-US", "nsfw_level": 0,
            "voice_states": [], "presences": [], "threads": [], "channels": [],
            "members": [self.member_payload(self.bot_user, permissions=BOT_PERMISSIONS)],
        }
        self.guilds[guild_id] = guild
        for n in channels:
            self.add_channel(guild, n)
        return guild

    def add_channel(self, guild: dict, name: str) -> dict:
        channel = {"id": str(self.snowflake()), "type": 0, "guild_id": guild["id"], "name": name,
                   "position": len(guild["channels"]), "permission_overwrites": [], "nsfw": False,
                   "parent_id": None, "topic": None, "last_message_id": None, "rate_limit_per_user": 0,
                   "flags": 0}
        guild["channels"].append({k: v for k, v in channel.items() if k != "guild_id"})
        self.channels[int(channel["id"])] = channel
        return channel

    def dm_channel(self, user: dict) -> dict:
        for ch in self.channels.values():
            if ch["type"] == 1 and ch["recipients"][0]["id"] == user["id"]:
                return ch
        channel = {"id": str(self.snowflake()), "type": 1, "recipients": [user], "last_message_id": None,
                   "flags": 0}
        self.channels[int(channel["id"])] = channel
        return channel

    @staticmethod
    def member_payload(user: dict, *, permissions: int | None = None) -> dict:
        member = {"user": user, "roles": [], "joined_at": _now_iso(), "deaf": False, "mute": False,
                  "flags": 0, "nick": None, "avatar": None, "pending": False}
        if permissions is not None:
            member["permissions"] = str(permissions)
        return member

    def attachment(self, filename: str, data: bytes, *, content_type: str | None = "video/mp4",
                   size: int | None = None, channel_id: int = 0) -> dict:
        """An uploaded file: its bytes go on the CDN; ``size`` may claim more than was stored."""
        att_id = self.snowflake()
        path = f"/attachments/{channel_id}/{att_id}/{filename}"
        self.cdn[path] = data
        att = {"id": str(att_id), "filename": filename, "size": len(data) if size is None else size,
               "url": self.base_url + path, "proxy_url": self.base_url + path}
        if content_type:
            att["content_type"] = content_type
        return att

    def _message(self, channel: dict, author: dict, *, content: str = "", embeds=None, components=None,
                 attachments=None, mentions=(), flags: int = 0, interaction: Interaction | None = None,
                 webhook_id: int | None = None, message_id: int | None = None, reference: dict | None = None) -> dict:
        msg = {"id": str(message_id or self.snowflake()), "channel_id": channel["id"], "author": author,
               "content": content, "timestamp": _now_iso(), "edited_timestamp": None, "tts": False,
               "mention_everyone": False, "mentions": list(mentions), "mention_roles": [],
               "attachments": list(attachments or []), "embeds": list(embeds or []), "pinned": False,
               "type": 19 if reference else (20 if interaction else 0), "flags": flags,
               "components": list(components or [])}
        if guild_id := self._guild_id_of(channel):
            msg["guild_id"] = str(guild_id)
        if reference:
            msg["message_reference"] = reference
        if webhook_id:
            msg["webhook_id"] = str(webhook_id)
            msg["application_id"] = str(self.app_id)
        if interaction is not None:
            user = interaction.payload.get("member", {}).get("user") or interaction.payload.get("user")
            msg["interaction_metadata"] = {"id": str(interaction.id), "type": interaction.type, "user": user,
                                           "authorizing_integration_owners": {}}
        self.messages[int(msg["id"])] = msg
        if channel["type"] in (11, 12):
            channel["message_count"] += 1
            channel["total_message_sent"] += 1
        return msg

    def _guild_id_of(self, channel: dict) -> int | None:
        return int(channel["guild_id"]) if channel.get("guild_id") else None

    # --- what tests read ----------------------------------------------------------------

    def channel_messages(self, channel_id: int | str, *, include_ephemeral: bool = False) -> list[dict]:
        cid = str(channel_id)
        return [m for m in self.messages.values() if m["channel_id"] == cid
                and (include_ephemeral or not m["flags"] & EPHEMERAL)]

    def bot_messages(self, channel_id: int | str) -> list[dict]:
        return [m for m in self.channel_messages(channel_id) if m["author"]["id"] == str(self.app_id)]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
        """Wait until ``predicate()`` is truthy (checked whenever the bot changes something)."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
                try:
                    await asyncio.wait_for(self._changed.wait(), min(left, 0.25))
                except asyncio.TimeoutError:
                    pass

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # --- server -------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{tail:.*}", self._cdn)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        for s in self.sessions:
            await s.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/gateway"

    async def _cdn(self, request: web.Request) -> web.Response:
        path = request.path
        if path not in self.cdn:
            return web.Response(status=404, text="Not Found")
        self.cdn_downloads.append(path)
        return web.Response(body=self.cdn[path], content_type="application/octet-stream")

    # --- gateway ------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        session = GatewaySession(ws, request.query.get("compress") == "zlib-stream")
        await session.send({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            payload = json.loads(msg.data)
            op, d = payload["op"], payload.get("d")
            if op == 1:
                # Acknowledged after a network-like delay: an instant ACK can beat discord.py's
                # heartbeat thread to its own bookkeeping and read as "41 s behind".
                asyncio.get_running_loop().call_later(
                    0.05, lambda: asyncio.ensure_future(session.send({"op": 11, "d": None, "s": None, "t": None})))
            elif op == 2:
                session.intents = d["intents"]
                session.shard = tuple(d.get("shard") or (0, 1))
                self.sessions.append(session)
                await self._send_ready(session)
            elif op == 6:
                old = next((s for s in self.sessions if s.session_id == d["session_id"]), None)
                if old is None:
                    await session.send({"op": 9, "d": False, "s": None, "t": None})
                    continue
                session.session_id, session.intents, session.shard = old.session_id, old.intents, old.shard
                self.sessions = [s for s in self.sessions if s is not old] + [session]
                for seq, event, data in self.events:  # Discord replays what the session missed
                    if seq > (d.get("seq") or 0) and self._for_session(session, data):
                        await session.send({"op": 0, "t": event, "s": seq, "d": data})
                await session.send({"op": 0, "t": "RESUMED", "s": self._next_seq(), "d": {}})
        return ws

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _for_session(self, session: GatewaySession, data: dict) -> bool:
        guild_id = data.get("guild_id") or (data.get("id") if "channels" in data else None)
        if guild_id is None:
            return session.shard[0] == 0  # DMs go to shard 0
        return (int(guild_id) >> 22) % session.shard[1] == session.shard[0]

    async def _send_ready(self, session: GatewaySession) -> None:
        guilds = [g for g in self.guilds.values() if self._for_session(session, {"guild_id": g["id"]})]
        ready = {"v": 10, "user": self.bot_user, "guilds": [{"id": g["id"], "unavailable": True} for g in guilds],
                 "session_id": session.session_id, "resume_gateway_url": self.gateway_url,
                 "shard": list(session.shard), "application": {"id": str(self.app_id), "flags": 0},
                 "private_channels": [], "relationships": [], "user_settings": {}}
        await session.send({"op": 0, "t": "READY", "s": self._next_seq(), "d": ready})
        for g in guilds:
            active = [t for t in self.threads.values() if t["guild_id"] == g["id"] and not t["thread_metadata"]["archived"]]
            await session.send({"op": 0, "t": "GUILD_CREATE", "s": self._next_seq(), "d": {**g, "threads": active}})
        session.identified.set()

    async def wait_connected(self, count: int = 1, timeout: float = 15.0) -> None:
        await self.wait_for(lambda: len([s for s in self.sessions if not s.ws.closed and s.identified.is_set()])
                            >= count, timeout, "the bot to identify on the gateway")

    async def dispatch(self, event: str, data: dict) -> None:
        """Send one gateway event to every session it belongs to (as Discord does)."""
        seq = self._next_seq()
        self.events.append((seq, event, data))
        for session in list(self.sessions):
            if session.ws.closed or not self._for_session(session, data):
                continue
            if event == "MESSAGE_CREATE":
                data_for = self._strip_content(session, data)
            else:
                data_for = data
            await session.send({"op": 0, "t": event, "s": seq, "d": data_for})

    def _strip_content(self, session: GatewaySession, msg: dict) -> dict:
        """What a bot without the MESSAGE_CONTENT intent sees of a guild message."""
        if (session.intents & MESSAGE_CONTENT_INTENT or "guild_id" not in msg
                or msg["author"]["id"] == str(self.app_id)
                or any(u["id"] == str(self.app_id) for u in msg["mentions"])):
            return msg
        return {**msg, "content": "", "embeds": [], "attachments": [], "components": []}

    # --- people doing things ------------------------------------------------------------

    async def user_message(self, user: dict, channel: dict, content: str = "", *, attachments=(),
                           mention_bot: bool = False, message_id: int | None = None) -> dict:
        """``user`` posts a message; returns the MESSAGE_CREATE payload (send it again to duplicate it)."""
        if mention_bot:
            content = f"<@{self.app_id}> {content}".strip()
        msg = self._message(channel, user, content=content, attachments=attachments,
                            mentions=[self.bot_user] if mention_bot else [], message_id=message_id)
        if "guild_id" in msg:
            msg["member"] = {k: v for k, v in self.member_payload(user).items() if k != "user"}
        await self.dispatch("MESSAGE_CREATE", msg)
        return msg

    def _interaction(self, itype: int, user: dict, channel: dict, data: dict | None, *,
                     permissions: int = MEMBER_PERMISSIONS, message: dict | None = None) -> Interaction:
        iid = self.snowflake()
        payload: dict[str, Any] = {
            "id": str(iid), "application_id": str(self.app_id), "type": itype, "token": secrets.token_urlsafe(24),
            "version": 1, "channel_id": channel["id"], "channel": {k: v for k, v in channel.items()},
            "locale": "en-US", "app_permissions": str(BOT_PERMISSIONS), "entitlements": [],
            "authorizing_integration_owners": {"0": channel.get("guild_id") or "0"},
            "attachment_size_limit": 25 * 1024 * 1024, "context": 0 if channel.get("guild_id") else 1,
        }
        if data is not None:
            payload["data"] = data
        if message is not None:
            payload["message"] = message
        if guild_id := self._guild_id_of(channel):
            payload["guild_id"] = str(guild_id)
            payload["guild_locale"] = "en-US"
            payload["member"] = self.member_payload(user, permissions=permissions)
        else:
            payload["user"] = user
        inter = Interaction(iid, payload["token"], itype, payload)
        self.interactions[iid] = inter
        return inter

    async def send_interaction(self, inter: Interaction) -> Interaction:
        await self.dispatch("INTERACTION_CREATE", inter.payload)
        return inter

    def _command(self, name: str) -> dict:
        cmd = next((c for c in self.commands if c["name"] == name), None)
        return cmd or {"id": str(self.snowflake()), "name": name}

    async def slash_command(self, user: dict, channel: dict, name: str, options: dict | None = None, *,
                            subcommand: str | None = None, attachments: dict[str, dict] | None = None,
                            permissions: int = MEMBER_PERMISSIONS) -> Interaction:
        """``user`` runs ``/name [subcommand] option:value...``; attachment options take payloads."""
        opts = []
        resolved: dict[str, Any] = {}
        for key, value in (options or {}).items():
            if isinstance(value, dict) and "filename" in value:
                opts.append({"name": key, "type": 11, "value": value["id"]})
                resolved.setdefault("attachments", {})[value["id"]] = value
            elif isinstance(value, dict) and "type" in value and "id" in value:  # a channel
                opts.append({"name": key, "type": 7, "value": value["id"]})
                resolved.setdefault("channels", {})[value["id"]] = {
                    "id": value["id"], "name": value.get("name", ""), "type": value["type"],
                    "permissions": str(MEMBER_PERMISSIONS)}
            else:
                kind = 5 if isinstance(value, bool) else 4 if isinstance(value, int) else 10 if isinstance(value, float) else 3
                opts.append({"name": key, "type": kind, "value": value})
        if subcommand:
            opts = [{"name": subcommand, "type": 1, "options": opts}]
        cmd = self._command(name)
        data = {"id": cmd["id"], "name": name, "type": 1, "options": opts}
        if resolved:
            data["resolved"] = resolved
        if channel.get("guild_id"):
            data["guild_id"] = channel["guild_id"]
        return await self.send_interaction(self._interaction(2, user, channel, data, permissions=permissions))

    async def message_command(self, user: dict, message: dict, name: str = "Recommend music") -> Interaction:
        channel = self.channels[int(message["channel_id"])]
        cmd = self._command(name)
        data = {"id": cmd["id"], "name": name, "type": 3, "target_id": message["id"],
                "resolved": {"messages": {message["id"]: message}}}
        return await self.send_interaction(self._interaction(2, user, channel, data))

    def find_button(self, message: dict, predicate: Callable[[dict], bool]) -> dict:
        for row in message["components"]:
            for comp in row.get("components", []):
                if comp.get("type") == 2 and predicate(comp):
                    return comp
        raise AssertionError(f"no such button on message {message['id']}: {message['components']}")

    async def click(self, user: dict, message: dict, custom_id: str) -> Interaction:
        channel = self.channels[int(message["channel_id"])]
        data = {"custom_id": custom_id, "component_type": 2}
        return await self.send_interaction(self._interaction(3, user, channel, data, message=self.messages[int(message["id"])]))

    async def submit_modal(self, user: dict, opened_by: Interaction, values: dict[str, str]) -> Interaction:
        """Fill in and submit the modal the bot opened in answer to ``opened_by``."""
        modal = next(r["data"] for r in opened_by.responses if r["type"] == 9)
        channel = self.channels[int(opened_by.payload["channel_id"])]

        def fill(components: list[dict]) -> list[dict]:
            out = []
            for c in components:
                if c["type"] in (1, 18):  # action row / label: recurse into what it holds
                    inner = c.get("components") or [c["component"]]
                    filled = fill(inner)
                    out.append({"type": c["type"], **({"components": filled} if "components" in c
                                                      else {"component": filled[0]})})
                elif c["type"] == 4:
                    out.append({"type": 4, "custom_id": c["custom_id"], "value": values.get(c["custom_id"], "")})
            return out

        data = {"custom_id": modal["custom_id"], "components": fill(modal["components"])}
        message = opened_by.payload.get("message")
        return await self.send_interaction(self._interaction(5, user, channel, data, message=message))

    # --- REST ---------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["path"]
        self.requests.append((request.method, path))
        for (method, prefix), err in list(self.fail_next.items()):
            if request.method == method and path.startswith(prefix):
                del self.fail_next[(method, prefix)]
                return _json({"code": err.code, "message": err.message}, err.status)
        body = await self._body(request)
        try:
            result = await self._route(request.method, path.split("/")[1:], body, request)
        except DiscordError as err:
            return _json({"code": err.code, "message": err.message}, err.status)
        finally:
            await self._notify()
        if result is None:
            return web.Response(status=204)
        return _json(result)

    @staticmethod
    async def _body(request: web.Request) -> dict | None:
        if request.content_type == "application/json":
            return await request.json()
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            body: dict = {}
            async for part in reader:
                if part.name == "payload_json":
                    body.update(json.loads(await part.text()))
                else:
                    body.setdefault("_files", []).append((part.filename, await part.read()))
            return body
        return None

    def _channel(self, cid: str) -> dict:
        ch = self.channels.get(int(cid))
        if ch is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        return ch

    def _msg(self, cid: str, mid: str) -> dict:
        msg = self.messages.get(int(mid))
        if msg is None or msg["channel_id"] != cid:
            raise DiscordError(404, 10008, "Unknown Message")
        return msg

    async def _route(self, method: str, p: list[str], body: dict | None, request: web.Request):
        match (method, p):
            case ("GET", ["users", "@me"]):
                return self.bot_user
            case ("GET", ["oauth2", "applications", "@me"]):
                return {"id": str(self.app_id), "name": "MuseChat", "description": "", "icon": None,
                        "bot_public": True, "bot_require_code_grant": False, "owner": self.users[self.app_id],
                        "verify_key": "00", "flags": 0, "team": None, "summary": ""}
            case ("GET", ["gateway", "bot"]):
                return {"url": self.gateway_url, "shards": 1,
                        "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0,
                                                "max_concurrency": 1}}
            case ("PUT", ["applications", _, "commands"]):
                self.commands = [{"type": 1, "description": "", "options": [], "nsfw": False,
                                  "default_member_permissions": None, **c, "id": str(self.snowflake()),
                                  "application_id": str(self.app_id), "version": str(self.snowflake())}
                                 for c in body]
                return self.commands
            case ("GET", ["applications", _, "commands"]):
                return self.commands
            case ("POST", ["users", "@me", "channels"]):
                return self.dm_channel(self.users[int(body["recipient_id"])])
            case ("GET", ["channels", cid]):
                return self._channel(cid)
            case ("POST", ["channels", cid, "typing"]):
                return None
            case ("POST", ["channels", cid, "messages"]):
                return await self._bot_sends(self._channel(cid), body)
            case ("GET", ["channels", cid, "messages"]):
                self._channel(cid)
                limit = int(request.query.get("limit", 50))
                msgs = sorted(self.channel_messages(cid), key=lambda m: int(m["id"]), reverse=True)
                if "before" in request.query:
                    msgs = [m for m in msgs if int(m["id"]) < int(request.query["before"])]
                return msgs[:limit]
            case ("GET", ["channels", cid, "messages", mid]):
                return self._msg(cid, mid)
            case ("PATCH", ["channels", cid, "messages", mid]):
                msg = self._msg(cid, mid)
                if msg["author"]["id"] != str(self.app_id):
                    raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
                return await self._edit(msg, body)
            case ("DELETE", ["channels", cid, "messages", mid]):
                self.messages.pop(int(self._msg(cid, mid)["id"]))
                return None
            case ("PUT", ["channels", cid, "messages", mid, "reactions", emoji, "@me"]):
                msg, emoji = self._msg(cid, mid), unquote(emoji)
                if (int(mid), emoji) not in self.reactions:  # reacting twice is a no-op on Discord
                    self.reactions.append((int(mid), emoji))
                    msg.setdefault("reactions", []).append({"emoji": {"id": None, "name": emoji}, "count": 1,
                                                            "me": True})
                return None
            case ("POST", ["channels", cid, "messages", mid, "threads"]):
                return await self._start_thread(self._channel(cid), self._msg(cid, mid), body)
            case ("POST", ["interactions", iid, token, "callback"]):
                return await self._callback(iid, token, body)
            case ("GET", ["webhooks", _, token, "messages", "@original"]):
                return self.messages[self._original(token)]
            case ("PATCH", ["webhooks", _, token, "messages", "@original"]):
                return await self._edit(self.messages[self._original(token)], body)
            case ("PATCH", ["webhooks", _, token, "messages", mid]):
                return await self._edit(self.messages[int(mid)], body)
            case ("POST", ["webhooks", _, token]):
                inter = self._by_token(token)
                channel = self.channels[int(inter.payload["channel_id"])]
                msg = self._message(channel, self.bot_user, content=body.get("content") or "",
                                    embeds=body.get("embeds"), components=body.get("components"),
                                    flags=body.get("flags") or 0, interaction=inter, webhook_id=self.app_id)
                inter.followups.append(int(msg["id"]))
                if not msg["flags"] & EPHEMERAL:
                    await self.dispatch("MESSAGE_CREATE", msg)
                return msg
        raise DiscordError(404, 0, f"fake Discord has no route {method} /{'/'.join(p)}")

    async def _bot_sends(self, channel: dict, body: dict) -> dict:
        if channel["type"] in (11, 12) and channel["thread_metadata"]["locked"]:
            raise DiscordError(403, 50083, "Thread is archived")
        content = body.get("content") or ""
        if len(content) > 2000:
            raise DiscordError(400, 50035, "Invalid Form Body: content longer than 2000")
        _check_embeds(body.get("embeds") or [])
        _check_components(body.get("components") or [])
        if not (content or body.get("embeds") or body.get("_files")):
            raise DiscordError(400, 50006, "Cannot send an empty message")
        ref = body.get("message_reference")
        msg = self._message(channel, self.bot_user, content=content, embeds=body.get("embeds"),
                            components=body.get("components"), flags=body.get("flags") or 0,
                            reference={**ref, "channel_id": channel["id"]} if ref else None)
        await self.dispatch("MESSAGE_CREATE", msg)
        return msg

    async def _edit(self, msg: dict, body: dict) -> dict:
        for key in ("content", "embeds", "components", "flags"):
            if key in body and body[key] is not None:
                msg[key] = body[key]
        if "content" in body and body["content"] is None:
            msg["content"] = ""
        _check_embeds(msg["embeds"])
        _check_components(msg["components"])
        msg["flags"] &= ~LOADING
        msg["edited_timestamp"] = _now_iso()
        if not msg["flags"] & EPHEMERAL:
            await self.dispatch("MESSAGE_UPDATE", msg)
        return msg

    async def _start_thread(self, channel: dict, msg: dict, body: dict) -> dict:
        if channel["type"] != 0:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        if int(msg["id"]) in self.threads:
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        thread = {"id": msg["id"], "type": 11, "guild_id": channel["guild_id"], "parent_id": channel["id"],
                  "owner_id": str(self.app_id), "name": body["name"][:100], "message_count": 0,
                  "member_count": 1, "rate_limit_per_user": 0, "flags": 0, "total_message_sent": 0,
                  "last_message_id": None,
                  "thread_metadata": {"archived": False, "auto_archive_duration": body.get("auto_archive_duration", 1440),
                                      "archive_timestamp": _now_iso(), "locked": False}}
        self.channels[int(thread["id"])] = thread
        self.threads[int(thread["id"])] = thread
        msg["thread"] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    def _by_token(self, token: str) -> Interaction:
        inter = next((i for i in self.interactions.values() if i.token == token), None)
        if inter is None:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        return inter

    def _original(self, token: str) -> int:
        inter = self._by_token(token)
        if inter.original_message_id is None:
            raise DiscordError(404, 10008, "Unknown Message")
        return inter.original_message_id

    async def _callback(self, iid: str, token: str, body: dict) -> dict:
        inter = self.interactions.get(int(iid))
        if inter is None or inter.token != token:
            raise DiscordError(404, 10062, "Unknown interaction")
        if inter.responses:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        inter.responses.append(body)
        kind, data = body["type"], body.get("data") or {}
        channel = self.channels[int(inter.payload["channel_id"])]
        message = None
        if kind in (4, 5):
            flags = (data.get("flags") or 0) | (LOADING if kind == 5 else 0)
            _check_embeds(data.get("embeds") or [])
            _check_components(data.get("components") or [])
            message = self._message(channel, self.bot_user, content=data.get("content") or "",
                                    embeds=data.get("embeds"), components=data.get("components"), flags=flags,
                                    interaction=inter, webhook_id=self.app_id)
            inter.original_message_id = int(message["id"])
            if not flags & EPHEMERAL:
                await self.dispatch("MESSAGE_CREATE", message)
        elif kind == 7:
            message = await self._edit(self.messages[int(inter.payload["message"]["id"])], data)
            inter.original_message_id = int(message["id"])
        elif kind == 9:
            if not data.get("custom_id") or not data.get("components"):
                raise DiscordError(400, 50035, "Invalid Form Body: a modal needs a custom_id and components")
        result: dict[str, Any] = {"interaction": {"id": iid, "type": inter.type,
                                                  "response_message_loading": kind == 5,
                                                  "response_message_ephemeral": bool(message and message["flags"] & EPHEMERAL)},
                                  "resource": {"type": kind}}
        if message is not None:
            result["interaction"]["response_message_id"] = message["id"]
            result["resource"]["message"] = message
        return result


def _json(data, status: int = 200) -> web.Response:
    # Exactly "application/json", no charset: discord.py compares the header literally.
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


def _check_embeds(embeds: list[dict]) -> None:
    """Discord's embed limits: a bot that breaks them gets 400, not a silent success."""
    if len(embeds) > 10:
        raise DiscordError(400, 50035, "Invalid Form Body: more than 10 embeds")
    for e in embeds:
        total = len(e.get("title", "")) + len(e.get("description", "")) + len(e.get("footer", {}).get("text", ""))
        if len(e.get("title", "")) > 256 or len(e.get("description", "")) > 4096:
            raise DiscordError(400, 50035, "Invalid Form Body: embed title/description too long")
        fields = e.get("fields", [])
        if len(fields) > 25:
            raise DiscordError(400, 50035, "Invalid Form Body: more than 25 embed fields")
        for f in fields:
            if not f.get("name") or not f.get("value") or len(f["name"]) > 256 or len(f["value"]) > 1024:
                raise DiscordError(400, 50035, f"Invalid Form Body: bad embed field {f!r}")
            total += len(f["name"]) + len(f["value"])
        if total > 6000:
            raise DiscordError(400, 50035, "Invalid Form Body: embed longer than 6000 characters")


def _check_components(rows: list[dict]) -> None:
    if len(rows) > 5:
        raise DiscordError(400, 50035, "Invalid Form Body: more than 5 action rows")
    ids = set()
    for row in rows:
        if row.get("type") != 1 or not 1 <= len(row.get("components", [])) <= 5:
            raise DiscordError(400, 50035, "Invalid Form Body: an action row holds 1 to 5 components")
        for c in row["components"]:
            cid = c.get("custom_id")
            if cid is not None:
                if len(cid) > 100 or cid in ids:
                    raise DiscordError(400, 50035, f"Invalid Form Body: bad or duplicate custom_id {cid!r}")
                ids.add(cid)
            if len(c.get("label") or "") > 80:
                raise DiscordError(400, 50035, "Invalid Form Body: button label longer than 80")
