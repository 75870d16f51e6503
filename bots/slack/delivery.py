"""Posting results into Slack threads, each finished turn exactly once.

One background thread polls the conversation service:

* turns this process queued are watched; as soon as a turn's picks are stored (the worker
  writes picks first, explanations after) they are posted into the thread;
* finished turns are taken with ``claim_deliveries("slack")`` — a claim is a database
  update, so each turn is delivered by exactly one process, including turns that finished
  while no bot was running — and the picks message is edited with ``chat.update`` to add
  the explanations (or posted whole when this process never showed the picks).

A post that fails for a passing reason (network, Slack errors, rate limits beyond the
client's retries) is released back to the service and tried again later; one that can
never succeed (the channel is gone, the app was removed) is logged and dropped. Either
way the claim ends (``finish_delivery``); a claim a crashed process left open is offered
again after ``MUSECHAT_DELIVERY_LEASE_S`` (posted at least once, never lost). Before
posting a turn it did not watch itself, a process looks in the thread for that turn's picks
message (posted early before a restart, or by a process that died before ending its
claim) and completes it in place, so a restart never shows the picks twice.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError, SlackClientError

from bots.slack.blocks import turn_message
from bots.slack.installs import Tokens
from bots.slack.threads import reply_ts
from core.conversation.service import ConversationNotFound, ConversationService, TurnView

log = logging.getLogger(__name__)

# Errors that no retry fixes: the message is dropped (and logged).
PERMANENT = {"channel_not_found", "not_in_channel", "is_archived", "channel_is_archived", "account_inactive",
             "invalid_auth", "not_authed", "token_revoked", "token_expired", "team_access_not_granted",
             "missing_scope", "restricted_action", "no_permission", "ekm_access_denied", "org_login_required",
             "team_not_found", "user_is_restricted"}
# The blocks were refused: the same picks are posted again as plain text.
BAD_BLOCKS = {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "invalid_arguments"}
MAX_BACKOFF_S = 300.0


@dataclass
class _Posted:
    channel: str
    ts: str


class Deliverer:
    """Polls ``service`` every ``poll_s`` seconds and posts with ``tokens``' clients."""

    def __init__(self, service: ConversationService, tokens: Tokens, *, poll_s: float = 0.5, batch: int = 20,
                 retry_base_s: float = 2.0):
        self.service = service
        self.tokens = tokens
        self.poll_s = poll_s
        self.batch = batch
        self.retry_base_s = retry_base_s  # first wait after a failed post; doubles each time
        self._watched: set[int] = set()
        # Watched turns that finished before this process showed their picks: nothing of
        # theirs is in the thread, so delivering them needs no look for an earlier message.
        self._unshown: set[int] = set()
        self._posted: dict[int, _Posted] = {}
        self._not_before: dict[int, float] = {}
        self._failures: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def watch(self, turn_id: int | None) -> None:
        """Post this turn's picks as soon as they are stored (a turn this process queued)."""
        if turn_id is None:
            return
        with self._lock:
            self._watched.add(turn_id)
        self._wake.set()

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="musechat-slack-delivery", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the database or Slack is away: keep polling, never die
                log.exception("delivery pass failed")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    # --- one pass ------------------------------------------------------------------------

    def tick(self) -> int:
        """Post what is ready now; returns how many messages were posted or edited."""
        done = 0
        with self._lock:
            watched = sorted(self._watched)
        for turn_id in watched:
            try:
                view = self.service.get_turn(turn_id)
            except ConversationNotFound:  # deleted (forget-me) while it ran
                view = None
            if view is None or view.finished:
                with self._lock:
                    self._watched.discard(turn_id)  # the claim below takes finished turns
                    if view is not None and turn_id not in self._posted:
                        self._unshown.add(turn_id)
            elif view.picks:
                with self._lock:
                    self._watched.discard(turn_id)
                done += self._preview(view)
        now = time.monotonic()
        for view in self.service.claim_deliveries("slack", limit=self.batch):
            if self._not_before.get(view.turn_id, 0.0) > now:
                self.service.release_delivery(view.turn_id)  # backing off after a failed post
                continue
            done += self._deliver(view)
        return done

    def _preview(self, view: TurnView) -> int:
        client = self.tokens.client_for(view.workspace_id)
        if client is None or not view.channel_id:
            return 0
        text, blocks = turn_message(view)
        try:
            resp = client.chat_postMessage(channel=view.channel_id, thread_ts=reply_ts(view.thread_id or ""),
                                           text=text, blocks=blocks, unfurl_links=False)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.info("turn %s: picks not shown early (%s); they come with the result", view.turn_id, exc)
            return 0
        with self._lock:
            self._posted[view.turn_id] = _Posted(view.channel_id, resp["ts"])
        return 1

    def _deliver(self, view: TurnView) -> int:
        client = self.tokens.client_for(view.workspace_id)
        if client is None or not view.channel_id:
            log.warning("turn %s: no Slack installation for workspace %s; result dropped",
                        view.turn_id, view.workspace_id)
            self.service.finish_delivery(view.turn_id)
            return 0
        text, blocks = turn_message(view)
        with self._lock:
            posted = self._posted.pop(view.turn_id, None)
            unshown = view.turn_id in self._unshown
        if posted is None and not unshown:
            posted = self._posted_before(client, view)
        try:
            self._send(client, view, text, blocks, posted)
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error in BAD_BLOCKS:
                log.warning("turn %s: Slack refused the blocks (%s); posting text", view.turn_id, error)
                try:
                    self._send(client, view, text, None, posted)
                except SlackApiError as again:
                    return self._failed(view, again.response.get("error"), posted)
                except (SlackClientError, OSError) as again:
                    return self._failed(view, str(again), posted)
                return self._sent(view)
            return self._failed(view, error, posted)
        except (SlackClientError, OSError) as exc:
            return self._failed(view, str(exc), posted)
        return self._sent(view)

    def _posted_before(self, client, view: TurnView) -> _Posted | None:
        """This turn's picks message if a process posted it before (early picks before a
        restart, or a post whose process died before ending its claim), found in the thread
        by its first pick's block id; then it is completed in place, not posted again."""
        root = reply_ts(view.thread_id or "")
        if not view.picks or not view.channel_id or root is None:
            return None
        marker = f"pick-{view.picks[0].pick_id}"
        try:
            resp = client.conversations_replies(channel=view.channel_id, ts=root, limit=200)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.info("turn %s: could not read the thread (%s); posting the result", view.turn_id, exc)
            return None
        for message in resp.get("messages") or []:
            if any(b.get("block_id") == marker for b in message.get("blocks") or []):
                return _Posted(view.channel_id, message["ts"])
        return None

    def _send(self, client, view: TurnView, text: str, blocks: list | None, posted: _Posted | None) -> None:
        if posted is not None:
            try:
                client.chat_update(channel=posted.channel, ts=posted.ts, text=text, blocks=blocks or [])
                return
            except SlackApiError as exc:
                if exc.response.get("error") not in ("message_not_found", "cant_update_message", "edit_window_closed"):
                    raise
        client.chat_postMessage(channel=view.channel_id, thread_ts=reply_ts(view.thread_id or ""), text=text,
                                blocks=blocks, unfurl_links=False)

    def _sent(self, view: TurnView) -> int:
        self.service.finish_delivery(view.turn_id)
        with self._lock:
            self._unshown.discard(view.turn_id)
            self._failures.pop(view.turn_id, None)
            self._not_before.pop(view.turn_id, None)
        return 1

    def _failed(self, view: TurnView, error: str | None, posted: _Posted | None) -> int:
        if error in PERMANENT:
            log.error("turn %s: cannot post into %s (%s); result dropped", view.turn_id, view.channel_id, error)
            self.service.finish_delivery(view.turn_id)
            with self._lock:
                self._unshown.discard(view.turn_id)
            return 0
        with self._lock:
            n = self._failures[view.turn_id] = self._failures.get(view.turn_id, 0) + 1
            self._not_before[view.turn_id] = time.monotonic() + min(MAX_BACKOFF_S, self.retry_base_s * 2.0 ** (n - 1))
            if posted is not None:
                self._posted[view.turn_id] = posted
        log.warning("turn %s: posting failed (%s); trying again later", view.turn_id, error)
        self.service.release_delivery(view.turn_id)
        return 0
