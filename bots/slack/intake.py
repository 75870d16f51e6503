"""Slack messages into conversation turns, off the listener threads.

Listeners acknowledge Slack at once and hand the work here: a small thread pool checks
and downloads the video, calls the conversation service (which commits the turn and
queues its job) and says "listening…" in the thread. Nothing here waits for a result;
:class:`~bots.slack.delivery.Deliverer` posts those.

Re-sent events: Slack sends an event again when it did not see the acknowledgement in
time (``X-Slack-Retry-Num``). A retry of an event this process is already working on is
skipped; any other copy is processed, and the service's event-id deduplication returns
the turn the first copy made — so a retry never makes a second turn, and the only copy
that arrived is never dropped.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bots.slack.delivery import Deliverer
from bots.slack.files import SlackFile, check_size, choose_video, download
from bots.slack.installs import workspace_key
from bots.slack.threads import is_dm_channel, reply_ts, thread_key
from core.config import Settings
from core.conversation.service import ConversationService
from core.db.models import ReactionKind
from core.errors import UserError

log = logging.getLogger(__name__)

LISTENING = "🎧 Listening… I'll post music picks here in a moment."
REFINING = "🎧 On it — refining the picks."
MORE = "🎧 Looking for more like that."
HINT = ("Send me a video (mp4, webm, mov, mkv or GIF) with a mention, or use *Recommend music* from a "
        "message's ⋯ menu, and I'll suggest music for it. `/musechat help` tells more.")
SORRY = "Something went wrong on my side while reading that. Please try again."


class NoVideoAttached(UserError):
    user_message = ("I didn't find a video in that message. Attach one (mp4, webm, mov, mkv or GIF), or use "
                    "*Recommend music* on a message that has one.")


@dataclass
class Incoming:
    """A Slack message that brings a video or feedback."""

    workspace: str | None
    channel: str
    user: str
    ts: str
    thread_ts: str | None
    text: str
    files: list[dict] = field(default_factory=list)
    is_dm: bool = False
    event_id: str | None = None

    @property
    def key(self) -> str:
        return thread_key(self.channel, ts=self.ts, thread_ts=self.thread_ts, is_dm=self.is_dm)

    @classmethod
    def from_event(cls, event: dict, body: dict, context) -> Incoming:
        channel = event.get("channel") or ""
        return cls(
            workspace=workspace_key(context.team_id, context.enterprise_id, bool(context.is_enterprise_install)),
            channel=channel, user=event.get("user") or "", ts=event.get("ts") or "",
            thread_ts=event.get("thread_ts"), text=strip_mention(event.get("text") or "", context.bot_user_id),
            files=list(event.get("files") or []), is_dm=is_dm_channel(channel, event.get("channel_type")),
            event_id=body.get("event_id"))


def _maybe_video(raw: dict) -> bool:
    """From the event alone: a video, or a file whose details the event left out."""
    f = SlackFile.from_api(raw)
    return f.is_video or not (f.mimetype or f.filetype)


def strip_mention(text: str, bot_user_id: str | None) -> str:
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", " ", text)
    return " ".join(text.split())


def mentions(text: str, bot_user_id: str | None) -> bool:
    return bool(bot_user_id) and f"<@{bot_user_id}" in text


class RecentEvents:
    """Event ids this process accepted in the last ``ttl_s`` seconds (bounded)."""

    def __init__(self, ttl_s: float = 3600.0, max_items: int = 20000):
        self.ttl_s, self.max_items = ttl_s, max_items
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, event_id: str) -> bool:
        """True the first time ``event_id`` is seen here (within the TTL)."""
        now = time.monotonic()
        with self._lock:
            while self._seen and (len(self._seen) > self.max_items or
                                  next(iter(self._seen.values())) < now - self.ttl_s):
                self._seen.popitem(last=False)
            if event_id in self._seen:
                return False
            self._seen[event_id] = now
            return True

    def forget(self, event_id: str) -> None:
        with self._lock:
            self._seen.pop(event_id, None)


class Intake:
    """Runs the work Slack requests ask for on ``workers`` threads."""

    def __init__(self, service: ConversationService, deliverer: Deliverer, settings: Settings, *, workers: int = 4):
        self.service = service
        self.deliverer = deliverer
        self.settings = settings
        self.recent = RecentEvents()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="musechat-slack-intake")
        # Per-thread locks, forgotten when no work holds them (WeakValueDictionary).
        self._locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
        self._locks_guard = threading.Lock()
        self.futures: list[Future] = []  # tests wait on these

    # --- queueing -----------------------------------------------------------------------

    def accept(self, event_id: str | None, retry_num: str | None = None) -> bool:
        """Whether to work on an event: False for a retry of one this process already took."""
        if not event_id:
            return True
        if self.recent.claim(event_id):
            return True
        log.info("event %s: retry %s skipped, this process is already on it", event_id, retry_num or "?")
        return False

    def submit(self, fn: Callable, *args, event_id: str | None = None, key: str | None = None) -> Future:
        """Run ``fn(*args)`` on the pool. Work with the same ``key`` (a conversation's
        thread) runs one at a time, so a quick reply in a thread waits for the video
        before it to become a conversation instead of finding none."""
        lock = self._lock_for(key)
        fut = self._pool.submit(self._guarded, fn, args, event_id, lock)
        with self._locks_guard:  # listeners submit from several threads
            self.futures = [f for f in self.futures if not f.done()] + [fut]
        return fut

    def _lock_for(self, key: str | None) -> threading.Lock | None:
        if key is None:
            return None
        with self._locks_guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock

    def _guarded(self, fn: Callable, args: tuple, event_id: str | None, lock: threading.Lock | None) -> None:
        try:
            if lock is None:
                fn(*args)
            else:
                with lock:
                    fn(*args)
        except Exception:
            # A bug or an outage (database, Slack): let a retry of the same event try again.
            log.exception("%s failed", getattr(fn, "__name__", fn))
            if event_id:
                self.recent.forget(event_id)

    def wait(self, timeout: float = 30.0) -> None:
        """Block until the queued work is done (tests, shutdown)."""
        for fut in list(self.futures):
            fut.result(timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)

    # --- work ------------------------------------------------------------------------------

    def message(self, client: WebClient, msg: Incoming, mentioned: bool) -> None:
        """A message the bot may answer. A video starts a conversation when the bot was
        mentioned, in a DM, or in a conversation's thread; text continues the conversation
        of its thread (or DM); a mention or DM with neither gets a hint. Other channel
        chatter is left alone."""
        conversation_id = self.service.find_conversation("slack", msg.key)
        addressed = mentioned or msg.is_dm
        if msg.files and (addressed or any(_maybe_video(raw) for raw in msg.files)):
            if addressed or conversation_id is not None:
                self.video(client, msg)
            return
        if conversation_id is not None and msg.text:
            self.feedback(client, msg.channel, msg.key, msg.text, conversation_id, event_id=msg.event_id)
        elif addressed:
            self.say(client, msg.channel, reply_ts(msg.key), HINT)

    def video(self, client: WebClient, msg: Incoming) -> None:
        """Check, download and hand over the message's video; reply in its thread."""
        thread = reply_ts(msg.key)
        limit = self.settings.max_upload_mb
        placeholder = None
        path: Path | None = None
        try:
            if not msg.files:
                raise NoVideoAttached("message without files")
            f = choose_video(client, msg.files)
            check_size(f, limit)  # from the file's metadata, before any byte is fetched
            placeholder = self.say(client, msg.channel, thread, LISTENING)
            path = download(f, client.token or "", max_upload_mb=limit, folder=self.settings.data_dir / "incoming")
            handle = self.service.start(path, platform="slack", user_id=msg.user, workspace_id=msg.workspace,
                                        channel_id=msg.channel, thread_id=msg.key, event_id=msg.event_id,
                                        filename=f.name, note=msg.text or None)
        except UserError as exc:
            log.info("slack %s in %s: %s", msg.event_id or msg.ts, msg.channel, exc)
            self.say(client, msg.channel, thread, f"⚠️ {exc.user_message}", replace=placeholder)
            return
        finally:
            if path is not None:
                path.unlink(missing_ok=True)
        if not handle.created:
            # A re-sent event that another process (or this one, before a restart) already
            # turned into a conversation: its "listening…" is in the thread already.
            self.unsay(client, msg.channel, placeholder)
            return
        self.deliverer.watch(handle.turn_id)

    def feedback(self, client: WebClient, channel: str, key: str, text: str, conversation_id: int,
                 event_id: str | None = None) -> None:
        """The next turn of a conversation, from a thread reply or the Refine… modal."""
        thread = reply_ts(key)
        try:
            handle = self.service.reply(conversation_id, text, event_id=event_id)
        except UserError as exc:
            self.say(client, channel, thread, f"⚠️ {exc.user_message}")
            return
        if not handle.created:
            return
        self.deliverer.watch(handle.turn_id)
        self.say(client, channel, thread, handle.notice or REFINING)

    def react(self, client: WebClient, pick_id: int, kind: str, user: str, channel: str, key: str) -> None:
        """A 👍 / 👎 (told to the clicker only) or "more like this" (a new turn in the thread)."""
        thread = reply_ts(key)
        try:
            handle = self.service.react(pick_id, kind, user_id=user)
        except UserError as exc:
            self.whisper(client, channel, user, thread, exc.user_message)
            return
        if handle is None:
            self.whisper(client, channel, user, thread, "👍 Noted: the next picks will lean towards this one."
                         if kind == ReactionKind.like.value else "👎 Noted: I won't suggest it again here.")
            return
        self.deliverer.watch(handle.turn_id)
        self.say(client, channel, thread, handle.notice or MORE)

    def forget(self, respond: Callable, user: str) -> None:
        try:
            report = self.service.forget_user("slack", user, actor=f"slack:{user}")
        except Exception:
            respond(text=SORRY, response_type="ephemeral", replace_original=False)
            raise
        respond(text=(f"Done: I deleted {report.conversations} conversation(s), {report.turns} turn(s), "
                      f"{report.reactions} reaction(s) and {report.videos} video(s) of yours."),
                response_type="ephemeral", replace_original=False)

    # --- speaking ----------------------------------------------------------------------------

    def say(self, client: WebClient, channel: str, thread: str | None, text: str, *,
            replace: str | None = None) -> str | None:
        """Post (or, with ``replace``, edit our message into) ``text``; returns its ts."""
        try:
            if replace:
                client.chat_update(channel=channel, ts=replace, text=text, blocks=[])
                return replace
            return client.chat_postMessage(channel=channel, thread_ts=thread, text=text, unfurl_links=False)["ts"]
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("could not post in %s: %s", channel, exc)
            return None

    def unsay(self, client: WebClient, channel: str, ts: str | None) -> None:
        if ts:
            try:
                client.chat_delete(channel=channel, ts=ts)
            except (SlackApiError, SlackClientError, OSError) as exc:
                log.info("could not remove a duplicate reply in %s: %s", channel, exc)

    def whisper(self, client: WebClient, channel: str, user: str, thread: str | None, text: str) -> None:
        try:
            client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread, text=text)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("could not answer %s in %s: %s", user, channel, exc)
