"""The conversation service: every front end's way in, and the body of every turn's job.

Front ends (Discord, Slack, the CLI, the web playground) call :class:`ConversationService`
with platform identifiers and never touch the engine or the queue:

* :meth:`~ConversationService.start` — a video (bytes or a path) starts a conversation;
* :meth:`~ConversationService.reply` — free-text feedback adds a turn;
* :meth:`~ConversationService.react` — like / dislike / "more like this" on a pick;
* :meth:`~ConversationService.claim_deliveries` — finished turns to post, each claimed once;
* :meth:`~ConversationService.forget_user` — delete a user's data.

Each call commits the turn's row *before* its job is queued, so a result is never lost
with a crashed process; the job (:meth:`~ConversationService.run_turn`, run by a worker
or in-process) moves the turn queued → running → done / failed and writes the results
to SQL: picks first, explanations after. Platform event ids are deduplicated in the
``platform_events`` table, so a re-sent event returns the turn it already made.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, selectinload

from core.catalog.analysis import track_tags
from core.config import Settings
from core.conversation.deadline import Deadline, TurnTimeout
from core.conversation.dispatch import Dispatcher, DispatchError, TurnNotReady, load_dispatcher
from core.conversation.preferences import (
    MAX_FEEDBACK_CHARS,
    HeardPick,
    accumulate,
    clean_text,
    parse_feedback,
    truncate,
)
from core.db.models import (
    AuditLog,
    Conversation,
    ConversationStatus,
    Pick,
    PlatformEvent,
    Reaction,
    ReactionKind,
    Track,
    Turn,
    TurnStatus,
    Video,
    utcnow,
)
from core.db.session import session_scope
from core.engine import ScoredTrack, TrackFilter, VideoAnalysis
from core.errors import ConversationBusy, FileTooLarge, MuseChatError, UserError

if TYPE_CHECKING:
    from core.engine import Engine

log = logging.getLogger(__name__)

# Characters of a feedback message kept in the database for moderators (only the first
# MAX_FEEDBACK_CHARS are read).
MAX_STORED_FEEDBACK_CHARS = 4000
# A job that starts this many times without finishing is given up (a video that kills
# the worker every time must not loop forever).
MAX_ATTEMPTS = 5
# A running turn whose job started longer ago than job_timeout_s plus this is dead.
STALE_GRACE_S = 60.0
GENERIC_FAILURE = "Something went wrong on my side while working on that. Please try again."
GAVE_UP = "I tried several times and couldn't finish this one. Please try again later."
NOT_READY = "I'm not set up correctly right now, so I can't recommend music. Please try again later."

Progress = Callable[[str], None]


class ConversationNotFound(UserError):
    user_message = "I can't find that conversation any more. Send the video again to start a new one."


class PickNotFound(UserError):
    user_message = "I can't find that pick any more."


# --- what front ends get back -----------------------------------------------------------

@dataclass
class PickView:
    """One pick as a front end shows it."""

    pick_id: int
    rank: int
    track_id: int
    title: str
    artist: str | None
    album: str | None
    score: float
    match_percent: int
    tags: list[str]
    tempo_bpm: float | None
    duration_s: float
    instrumental: bool | None
    vocal_prob: float | None
    licence: str
    attribution: str
    path: str
    explanation: str | None
    explanation_fallback: bool


@dataclass
class TurnView:
    """One turn as a front end shows it; ``notes`` are sentences to include in the reply."""

    turn_id: int
    conversation_id: int
    index: int
    status: str
    feedback: str | None
    filters: dict
    filters_applied: list[str]
    error: str | None
    picks: list[PickView]
    notes: list[str]
    timings: dict
    attempts: int
    platform: str
    workspace_id: str | None
    channel_id: str | None
    thread_id: str | None
    user_id: str
    delivered: bool

    @property
    def finished(self) -> bool:
        return self.status in (TurnStatus.done.value, TurnStatus.failed.value)


@dataclass
class TurnHandle:
    """What a call that makes a turn returns at once (the job runs later).

    ``created`` is False when the platform event was seen before (the existing turn is
    returned); ``waiting`` is True when an earlier turn of the conversation is still being
    worked on — the turn is queued behind it and ``notice`` says so; ``dispatched`` is False
    when the queue could not be reached (the turn stays queued and is sent again later).
    """

    turn_id: int | None
    conversation_id: int
    index: int | None
    created: bool = True
    waiting: bool = False
    dispatched: bool = True
    notice: str | None = None


@dataclass
class ForgetReport:
    conversations: int = 0
    turns: int = 0
    reactions: int = 0
    videos: int = 0
    files: list[str] = field(default_factory=list)


def is_database_outage(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and (exc.connection_invalidated or
                                             exc.__class__.__name__ in ("OperationalError", "InterfaceError"))


# Settings that do not change what the engine loads: services that differ only in these
# share one engine (and its models) per process.
_NOT_ENGINE = {"database_url", "broker_url", "result_backend_url", "top_k", "job_timeout_s", "max_upload_mb",
               "log_level", "discord_token", "slack_bot_token", "slack_signing_secret", "slack_app_token"}
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def engine_for(settings: Settings, database_url: str | None = None) -> Engine:
    """This process's Engine for ``settings``: created once, its models loaded lazily.

    ``database_url``: the catalog's database when it is not the configured one."""
    key = settings.model_dump_json(exclude=_NOT_ENGINE) + (database_url or "")
    with _engines_lock:
        if key not in _engines:
            from core.engine import Engine

            _engines[key] = Engine(settings, database_url)
        return _engines[key]


class ConversationService:
    """Turn logic for every front end and worker.

    ``settings``: the one settings object. ``database_url``: overrides the configured
    database. ``dispatcher``: how jobs are queued (default from the settings: Celery when
    a broker is set, else in-process and synchronous). ``engine``: an Engine to use; by
    default one is created on the first job and kept for the life of the process.
    """

    def __init__(self, settings: Settings, *, database_url: str | None = None,
                 dispatcher: Dispatcher | None = None, engine: Engine | None = None,
                 background: bool = False):
        self.settings = settings
        self.url = database_url or settings.sqlalchemy_url
        self._database_url = database_url
        self._engine = engine
        self._engine_lock = threading.RLock()
        self._warm = False
        self.dispatcher = dispatcher or load_dispatcher(settings, self.run_turn, background=background)

    # --- engine ------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The engine, created on first use (models load lazily inside it)."""
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    self._engine = engine_for(self.settings, self._database_url)
        return self._engine

    def warm_up(self, progress: Progress | None = None) -> None:
        """Load every model now, once per process (the first job, or a CLI before its first turn).

        Raises WeightsMissing (with what is missing and how to provide it) when the engine
        cannot start."""
        if self._warm:
            return
        with self._engine_lock:
            if not self._warm:
                if progress:
                    progress("loading models")
                t0 = time.perf_counter()
                self.engine.warm_up()  # a no-op for an engine another service already loaded
                log.info("models ready in %.1f s", time.perf_counter() - t0)
                self._warm = True

    def _session(self):
        return session_scope(self.url)

    # --- starting and continuing conversations ---------------------------------------------

    def start(self, video: bytes | Path, *, platform: str, user_id: str, workspace_id: str | None = None,
              channel_id: str | None = None, thread_id: str | None = None, user_name: str | None = None,
              event_id: str | None = None, filename: str | None = None, note: str | None = None) -> TurnHandle:
        """Start a conversation about ``video`` and queue its first turn.

        ``video``: the upload's bytes or a path to it; ``note``: optional text sent with the
        video (read like feedback). Raises FileTooLarge before storing anything when the
        upload exceeds MUSECHAT_MAX_UPLOAD_MB. Media is not decoded here (only in jobs).
        """
        if event_id and (seen := self._seen_event(platform, event_id)):
            return seen
        note_text = clean_text(note or "")
        prefs = accumulate([note_text]) if note_text else None
        stored = self._store_video(video, filename)
        job_id = uuid.uuid4().hex
        for attempt in range(2):  # again once when a concurrent upload of the same file won the race
            try:
                return self._dispatch(self._new_conversation(
                    stored, job_id, prefs, note_text, platform=platform, user_id=user_id,
                    workspace_id=workspace_id, channel_id=channel_id, thread_id=thread_id,
                    user_name=user_name, event_id=event_id), job_id)
            except IntegrityError:
                if event_id and (seen := self._seen_event(platform, event_id)):
                    return seen  # the same event raced in from another process
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _new_conversation(self, stored, job_id, prefs, note_text, *, platform, user_id, workspace_id,
                          channel_id, thread_id, user_name, event_id) -> TurnHandle:
        with self._session() as s:
            video_row = self._video_row(s, stored)
            conv = Conversation(platform=platform, workspace_id=workspace_id, channel_id=channel_id,
                                thread_id=thread_id, user_id=user_id, user_name=user_name, video_id=video_row.id)
            turn = Turn(index=0, feedback_text=truncate(note_text, MAX_STORED_FEEDBACK_CHARS)[0] or None,
                        filters=prefs.filters.to_dict() if prefs else {}, job_id=job_id)
            conv.turns.append(turn)
            s.add(conv)
            s.flush()
            if event_id:
                s.add(PlatformEvent(platform=platform, event_id=event_id, turn_id=turn.id))
                s.flush()
            return TurnHandle(turn.id, conv.id, 0)

    def set_thread(self, conversation_id: int, thread_id: str) -> None:
        """Record the platform thread opened for a conversation after it started."""
        with self._session() as s:
            conv = s.get(Conversation, conversation_id)
            if conv is None:
                raise ConversationNotFound(f"conversation {conversation_id}")
            conv.thread_id = thread_id

    def find_conversation(self, platform: str, thread_id: str) -> int | None:
        """The newest live conversation in a platform thread, or None."""
        with self._session() as s:
            return s.scalar(select(Conversation.id).where(
                Conversation.platform == platform, Conversation.thread_id == thread_id,
                Conversation.status == ConversationStatus.active).order_by(Conversation.id.desc()).limit(1))

    def reply(self, conversation_id: int, text: str, *, event_id: str | None = None) -> TurnHandle:
        """Add a feedback turn to a conversation and queue it.

        Raises EmptyFeedback for blank text (nothing is stored) and ConversationNotFound.
        A reply while an earlier turn is still queued or running is queued behind it.
        """
        parse_feedback(text)  # raises EmptyFeedback before anything is stored
        stored_text = truncate(clean_text(text), MAX_STORED_FEEDBACK_CHARS)[0]
        return self._add_turn(conversation_id, stored_text, event_id)

    def react(self, pick_id: int, kind: ReactionKind | str, *, user_id: str,
              event_id: str | None = None) -> TurnHandle | None:
        """Record a reaction to a pick. "more like this" also queues a new turn seeded with that
        pick and returns its handle; like / dislike return None. A like replaces the same
        user's earlier dislike of the pick and vice versa; disliked tracks are never shown
        again in the conversation."""
        kind = ReactionKind(kind)
        with self._session() as s:
            pick = s.get(Pick, pick_id)
            if pick is None:
                raise PickNotFound(f"pick {pick_id}")
            conversation_id = pick.turn.conversation_id
            platform = pick.turn.conversation.platform
        if event_id and (seen := self._seen_event(platform, event_id)):
            return seen if kind is ReactionKind.more_like_this else None
        if kind is ReactionKind.more_like_this:
            return self._add_turn(conversation_id, None, event_id,
                                  reaction=Reaction(pick_id=pick_id, user_id=user_id, kind=kind))
        try:
            with self._session() as s:
                s.execute(delete(Reaction).where(
                    Reaction.pick_id == pick_id, Reaction.user_id == user_id,
                    Reaction.kind.in_([ReactionKind.like, ReactionKind.dislike])))
                s.add(Reaction(pick_id=pick_id, user_id=user_id, kind=kind))
                if event_id:
                    s.add(PlatformEvent(platform=platform, event_id=event_id))
        except IntegrityError:
            if event_id and self._seen_event(platform, event_id, any_turn=True):
                return None
            raise
        return None

    def _add_turn(self, conversation_id: int, feedback: str | None, event_id: str | None,
                  reaction: Reaction | None = None) -> TurnHandle:
        for _ in range(5):  # retried when another turn took the same index concurrently
            job_id = uuid.uuid4().hex
            try:
                with self._session() as s:
                    conv = s.get(Conversation, conversation_id)
                    if conv is None or conv.status is not ConversationStatus.active:
                        raise ConversationNotFound(f"conversation {conversation_id}")
                    if event_id and (seen := self._seen_event(conv.platform, event_id, session=s)):
                        return seen
                    if reaction is not None:
                        s.add(Reaction(pick_id=reaction.pick_id, user_id=reaction.user_id, kind=reaction.kind))
                    earlier = s.execute(select(Turn.index, Turn.feedback_text, Turn.status)
                                        .where(Turn.conversation_id == conversation_id)
                                        .order_by(Turn.index)).all()
                    index = (earlier[-1].index + 1) if earlier else 0
                    prefs = accumulate([t.feedback_text for t in earlier] + [feedback])
                    turn = Turn(conversation_id=conversation_id, index=index, feedback_text=feedback,
                                filters=prefs.filters.to_dict(), job_id=job_id)
                    s.add(turn)
                    s.flush()
                    if event_id:
                        s.add(PlatformEvent(platform=conv.platform, event_id=event_id, turn_id=turn.id))
                    conv.updated_at = utcnow()
                    s.flush()
                    waiting = any(t.status in (TurnStatus.queued, TurnStatus.running) for t in earlier)
                    handle = TurnHandle(turn.id, conversation_id, index, waiting=waiting)
            except IntegrityError:
                platform = self._platform_of(conversation_id)
                if event_id and platform and (seen := self._seen_event(platform, event_id)):
                    return seen
                continue
            if handle.waiting:
                handle.notice = ConversationBusy.user_message
            return self._dispatch(handle, job_id)
        raise RuntimeError(f"could not add a turn to conversation {conversation_id}")

    def _platform_of(self, conversation_id: int) -> str | None:
        with self._session() as s:
            return s.scalar(select(Conversation.platform).where(Conversation.id == conversation_id))

    def _seen_event(self, platform: str, event_id: str, *, session: Session | None = None,
                    any_turn: bool = False) -> TurnHandle | None:
        """The handle of the turn an already-seen event made, or None for a new event."""
        def lookup(s: Session) -> TurnHandle | None:
            row = s.execute(select(PlatformEvent.turn_id, Turn.conversation_id, Turn.index)
                            .outerjoin(Turn, Turn.id == PlatformEvent.turn_id)
                            .where(PlatformEvent.platform == platform, PlatformEvent.event_id == event_id)).first()
            if row is None:
                return None
            if row.turn_id is None:
                if any_turn:
                    return TurnHandle(None, 0, None, created=False)
                raise ConversationNotFound(f"event {platform}:{event_id} has no turn any more")
            return TurnHandle(row.turn_id, row.conversation_id, row.index, created=False)

        if session is not None:
            return lookup(session)
        with self._session() as s:
            return lookup(s)

    def _dispatch(self, handle: TurnHandle, job_id: str) -> TurnHandle:
        try:
            self.dispatcher.submit(handle.turn_id, job_id)
        except DispatchError as exc:
            # The row is committed and queued: requeue_stalled() sends it once the queue is back.
            log.warning("turn %s stays queued: %s", handle.turn_id, exc)
            handle.dispatched = False
        return handle

    # --- media -------------------------------------------------------------------------------

    @dataclass
    class _Stored:
        content_hash: str
        path: Path
        size: int
        filename: str | None

    def _store_video(self, video: bytes | Path, filename: str | None) -> ConversationService._Stored:
        """Write the upload once under media_dir, named by its SHA-256; refuse it if too large."""
        limit = int(self.settings.max_upload_mb * 1024 * 1024)
        too_large = FileTooLarge("upload over the size limit", limit_mb=self.settings.max_upload_mb)
        media = self.settings.media_dir
        media.mkdir(parents=True, exist_ok=True)
        if isinstance(video, (bytes, bytearray, memoryview)):
            data = bytes(video)
            if len(data) > limit:
                raise too_large
            digest, size = hashlib.sha256(data).hexdigest(), len(data)
            chunks: Iterator[bytes] | None = iter([data])
            source = None
        else:
            source = Path(video)
            if not source.is_file():
                raise UserError(f"no such file: {source}", user_message=f"I can't open {source.name}.")
            if source.stat().st_size > limit:
                raise too_large
            h = hashlib.sha256()
            with source.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            digest, size, chunks = h.hexdigest(), source.stat().st_size, None
            filename = filename or source.name
        suffix = re.sub(r"[^a-z0-9]", "", Path(filename or "").suffix.lower())[:8]
        dest = media / digest[:2] / (digest + (f".{suffix}" if suffix else ""))
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
            with tmp.open("wb") as out:
                if chunks is not None:
                    for chunk in chunks:
                        out.write(chunk)
                else:
                    with source.open("rb") as f:
                        for block in iter(lambda: f.read(1 << 20), b""):
                            out.write(block)
            os.replace(tmp, dest)  # atomic: concurrent uploads of the same file are harmless
        return self._Stored(digest, dest, size, (filename or "")[:300] or None)

    def _video_row(self, s: Session, stored: _Stored) -> Video:
        row = s.scalar(select(Video).where(Video.content_hash == stored.content_hash))
        if row is None:
            row = Video(content_hash=stored.content_hash, path=str(stored.path), filename=stored.filename,
                        size_bytes=stored.size)
            s.add(row)
            s.flush()
        elif row.path is None or not Path(row.path).exists():
            row.path = str(stored.path)  # media retention removed it; the upload brings it back
        return row

    # --- the job -----------------------------------------------------------------------------

    def run_turn(self, turn_id: int, *, job_id: str | None = None, progress: Progress | None = None,
                 timeout_s: float | None = None) -> str | None:
        """Answer one turn: the job a worker (or the in-process dispatcher) runs.

        Moves the turn queued → running → done / failed and stores picks, then
        explanations. Safe to run again for the same turn (a redelivered job): a finished
        turn is left alone and picks already stored are reused. Returns the final status
        (None when the turn no longer exists or another live job owns it).

        Raises TurnNotReady while an earlier turn of the conversation is unfinished, and
        SQLAlchemy errors when the database is unreachable — the caller retries both.
        User-caused errors and timeouts end the turn ``failed`` with a message for the user;
        unexpected errors too, with the traceback logged.

        The time limit (``timeout_s``, default MUSECHAT_JOB_TIMEOUT_S) starts after the
        models are loaded: a worker's first job pays for loading them once.
        """
        say = progress or (lambda _stage: None)
        timeout_s = timeout_s or self.settings.job_timeout_s
        job = self._claim(turn_id, job_id, timeout_s)
        if job is None:
            return None
        if isinstance(job, str):
            return job
        timings: dict[str, float] = {}
        try:
            self.warm_up(say)
        except DBAPIError as exc:
            if is_database_outage(exc):
                raise
            log.exception("turn %s: the engine cannot start", turn_id)
            return self._finish(turn_id, TurnStatus.failed, timings, NOT_READY)
        except MuseChatError as exc:  # e.g. WeightsMissing: says what is missing and how to fix it
            log.error("turn %s: the engine cannot start: %s", turn_id, exc)
            return self._finish(turn_id, TurnStatus.failed, timings, NOT_READY)
        except Exception:
            log.exception("turn %s: the engine cannot start", turn_id)
            return self._finish(turn_id, TurnStatus.failed, timings, NOT_READY)
        deadline = Deadline(timeout_s)
        t0 = time.perf_counter()
        try:
            analysis = self._analysis(job, deadline, timings, say)
            picks = self._picks(job, analysis, deadline, timings, say, t0)
            self._explain(job, analysis, picks, deadline, timings, say)
            timings["to_explanations"] = round(time.perf_counter() - t0, 4)
        except UserError as exc:
            log.info("turn %s failed: %s", turn_id, exc)
            return self._finish(turn_id, TurnStatus.failed, timings, exc.user_message)
        except TurnNotReady:
            raise
        except DBAPIError as exc:
            if is_database_outage(exc):
                raise  # the caller retries once the database is back; the turn stays running
            log.exception("turn %s failed on a database error", turn_id)
            return self._finish(turn_id, TurnStatus.failed, timings, GENERIC_FAILURE)
        except Exception:
            log.exception("turn %s failed unexpectedly", turn_id)
            return self._finish(turn_id, TurnStatus.failed, timings, GENERIC_FAILURE)
        return self._finish(turn_id, TurnStatus.done, timings, None)

    @dataclass
    class _Job:
        turn_id: int
        index: int
        video_hash: str | None
        video_path: str | None
        filters: TrackFilter
        preference: str | None
        repeat: bool
        exclude: set[int]
        previous_track_id: int | None
        stored_picks: list[ScoredTrack]
        explained: set[int]

    def _claim(self, turn_id: int, job_id: str | None, timeout_s: float):
        """Mark the turn running and gather what the job needs; None/str when there is nothing to do."""
        now = utcnow()
        stale_before = now - timedelta(seconds=timeout_s + STALE_GRACE_S)
        with self._session() as s:
            turn = s.get(Turn, turn_id, with_for_update=True)
            if turn is None:
                log.info("turn %s no longer exists (deleted); nothing to do", turn_id)
                return None
            if turn.status in (TurnStatus.done, TurnStatus.failed):
                return turn.status.value  # a redelivered job: already answered
            if (turn.status is TurnStatus.running and job_id is not None and turn.job_id != job_id
                    and turn.started_at and _aware(turn.started_at) > stale_before):
                log.info("turn %s is being answered by job %s; duplicate job %s skipped", turn_id, turn.job_id, job_id)
                return None
            earlier = s.scalars(select(Turn).where(
                Turn.conversation_id == turn.conversation_id, Turn.index < turn.index,
                Turn.status.in_([TurnStatus.queued, TurnStatus.running])).order_by(Turn.index)).all()
            for e in earlier:
                if e.status is TurnStatus.running and e.started_at and _aware(e.started_at) < stale_before:
                    e.status, e.error, e.finished_at = TurnStatus.failed, TurnTimeout.user_message, now
                    continue
                raise TurnNotReady(turn_id, e.id, e.status is TurnStatus.queued)
            turn.attempts += 1
            if turn.attempts > MAX_ATTEMPTS:
                turn.status, turn.error, turn.finished_at = TurnStatus.failed, GAVE_UP, now
                log.error("turn %s failed after %s attempts", turn_id, MAX_ATTEMPTS)
                return TurnStatus.failed.value
            turn.status, turn.started_at = TurnStatus.running, now
            if job_id is not None:
                turn.job_id = job_id
            conv = turn.conversation
            video = conv.video
            turns = s.scalars(select(Turn).where(Turn.conversation_id == conv.id, Turn.index <= turn.index)
                              .order_by(Turn.index)).all()
            prefs = accumulate([t.feedback_text for t in turns], self._heard_picks(s, conv.id, turns))
            # "longer"/"faster" become bounds only now that the picks they refer to are known.
            turn.filters = prefs.filters.to_dict()
            exclude, disliked, previous = self._history(s, conv.id, turn.index)
            stored = s.execute(select(Pick.track_id, Pick.score, Pick.explanation).where(Pick.turn_id == turn_id)
                               .order_by(Pick.rank)).all()
            return self._Job(
                turn_id=turn_id, index=turn.index,
                video_hash=video.content_hash if video else None, video_path=video.path if video else None,
                filters=TrackFilter.from_dict(turn.filters), preference=prefs.text, repeat=prefs.repeat,
                exclude=disliked if prefs.repeat else exclude | disliked, previous_track_id=previous,
                stored_picks=[ScoredTrack(r.track_id, r.score) for r in stored],
                explained={r.track_id for r in stored if r.explanation is not None})

    def _heard_picks(self, s: Session, conversation_id: int, turns: list[Turn]) -> list[HeardPick | None]:
        """For each turn, the pick its "longer"/"faster" refers to: that turn's previous music
        (see _history); None where the turn's words need none."""
        heard: list[HeardPick | None] = []
        for t in turns:
            fb = parse_feedback(t.feedback_text, allow_empty=True) if t.index and t.feedback_text else None
            previous = (self._history(s, conversation_id, t.index)[2]
                        if fb and any(op.action == "relative" for op in fb.ops) else None)
            track = s.get(Track, previous) if previous is not None else None
            heard.append(HeardPick(track.duration_s, track.tempo_bpm) if track is not None else None)
        return heard

    def _history(self, s: Session, conversation_id: int, before_index: int) -> tuple[set[int], set[int], int | None]:
        """(tracks shown so far, tracks disliked, the previous music for the next turn).

        The previous music is the pick liked (or "more like this") most recently since the
        latest answered turn was made; without one, that turn's top pick not disliked.
        """
        shown = set(s.scalars(select(Pick.track_id).join(Turn).where(
            Turn.conversation_id == conversation_id, Turn.index < before_index)))
        reactions = s.execute(select(Reaction.kind, Reaction.created_at, Pick.track_id)
                              .join(Pick, Pick.id == Reaction.pick_id).join(Turn, Turn.id == Pick.turn_id)
                              .where(Turn.conversation_id == conversation_id)
                              .order_by(Reaction.created_at, Reaction.id)).all()
        disliked = {r.track_id for r in reactions if r.kind is ReactionKind.dislike}
        liked = [r for r in reactions if r.kind is not ReactionKind.dislike and r.track_id not in disliked]
        last = s.scalar(select(Turn).where(Turn.conversation_id == conversation_id, Turn.index < before_index,
                                           Turn.status == TurnStatus.done).order_by(Turn.index.desc()).limit(1))
        if last is None:
            return shown, disliked, liked[-1].track_id if liked else None
        recent = [r for r in liked if _aware(r.created_at) >= _aware(last.created_at)]
        if recent:
            return shown, disliked, recent[-1].track_id
        top = next((p.track_id for p in last.picks if p.track_id not in disliked), None)
        return shown, disliked, top

    def _analysis(self, job: _Job, deadline: Deadline, timings: dict, say: Progress) -> VideoAnalysis:
        if job.video_hash is None:
            raise ConversationNotFound("the conversation's video was deleted")
        engine = self.engine
        cache = Path(engine.video_cache_path(job.video_hash))
        if cache.exists():
            t0 = time.perf_counter()
            try:
                analysis = VideoAnalysis.load(cache)
                timings["load_features"] = round(time.perf_counter() - t0, 4)
                if analysis.facts is not None and job.index == 0:
                    # Another conversation analysed this video: its row still needs the facts.
                    self._store_facts(job.video_hash, analysis)
                return analysis
            except (OSError, ValueError, KeyError):
                log.warning("unreadable video cache %s; analysing again", cache)
                cache.unlink(missing_ok=True)
        if not job.video_path or not Path(job.video_path).exists():
            raise UserError("video file missing", user_message=(
                "I no longer have that video (it was removed after the retention period). "
                "Send it again to start a new conversation."))
        say("analysing the video")
        t0 = time.perf_counter()
        with deadline.enforce():
            analysis = engine.analyse_video(Path(job.video_path), job.video_hash)
        timings["analyse"] = round(time.perf_counter() - t0, 4)
        if not cache.exists():
            analysis.save(cache)
        with self._session() as s:
            s.execute(update(Video).where(Video.content_hash == job.video_hash).values(
                features_path=str(cache), duration_s=analysis.duration_s,
                facts=analysis.facts.to_dict() if analysis.facts else None))
        return analysis

    def _store_facts(self, video_hash: str, analysis: VideoAnalysis) -> None:
        with self._session() as s:
            s.execute(update(Video).where(Video.content_hash == video_hash, Video.facts.is_(None))
                      .values(facts=analysis.facts.to_dict()))

    def _picks(self, job: _Job, analysis: VideoAnalysis, deadline: Deadline, timings: dict,
               say: Progress, t_job: float) -> list[ScoredTrack]:
        if job.stored_picks:
            return job.stored_picks  # an earlier attempt stored them: one set of picks per turn
        say("searching the catalog")
        t0 = time.perf_counter()
        with deadline.enforce():
            picks = self.engine.recommend(analysis, preference=job.preference,
                                          previous_track_id=job.previous_track_id, filters=job.filters,
                                          exclude=job.exclude, k=self.settings.top_k)
        timings["search"] = round(time.perf_counter() - t0, 4)
        timings["to_picks"] = round(time.perf_counter() - t_job, 4)
        try:
            with self._session() as s:
                for rank, p in enumerate(picks, start=1):
                    s.add(Pick(turn_id=job.turn_id, rank=rank, track_id=p.track_id, score=float(p.score)))
                s.execute(update(Turn).where(Turn.id == job.turn_id).values(timings=dict(timings)))
        except IntegrityError:
            # Another attempt of this job stored its picks first: keep those.
            with self._session() as s:
                rows = s.execute(select(Pick.track_id, Pick.score).where(Pick.turn_id == job.turn_id)
                                 .order_by(Pick.rank)).all()
            picks = [ScoredTrack(r.track_id, r.score) for r in rows]
        return picks

    def _explain(self, job: _Job, analysis: VideoAnalysis, picks: list[ScoredTrack], deadline: Deadline,
                 timings: dict, say: Progress) -> None:
        todo = [p for p in picks if p.track_id not in job.explained]
        if not todo:
            return
        say("writing explanations")
        t0 = time.perf_counter()
        try:
            with deadline.enforce():
                explanations = self.engine.explain(analysis, todo, job.preference)
        except TurnTimeout:
            # The picks are stored and worth showing; the turn ends without explanations.
            log.warning("turn %s: explanations cut off by the time limit", job.turn_id)
            timings["explain_timed_out"] = True
            return
        except Exception as exc:
            if isinstance(exc, DBAPIError) and is_database_outage(exc):
                raise
            # Same reasoning: a broken explainer must not take the picks away from the user.
            log.exception("turn %s: explaining the picks failed", job.turn_id)
            timings["explain_failed"] = True
            return
        timings["explain"] = round(time.perf_counter() - t0, 4)
        with self._session() as s:
            for p, e in zip(todo, explanations, strict=True):
                s.execute(update(Pick).where(Pick.turn_id == job.turn_id, Pick.track_id == p.track_id).values(
                    explanation=e.text, explanation_fallback=e.fallback))

    def _finish(self, turn_id: int, status: TurnStatus, timings: dict, error: str | None) -> str:
        with self._session() as s:
            turn = s.get(Turn, turn_id)
            if turn is None:
                return status.value
            started = _aware(turn.started_at)
            now = utcnow()
            total = {**(turn.timings or {}), **timings}
            if started:
                total["job"] = round((now - started).total_seconds(), 4)
                total["queued"] = round((started - _aware(turn.created_at)).total_seconds(), 4)
            turn.status, turn.error, turn.finished_at, turn.timings = status, error, now, total
        return status.value

    # --- reading results and delivering them ---------------------------------------------------

    def get_turn(self, turn_id: int) -> TurnView:
        with self._session() as s:
            turn = s.get(Turn, turn_id)
            if turn is None:
                raise ConversationNotFound(f"turn {turn_id}")
            return self._view(s, turn)

    def conversation(self, conversation_id: int) -> list[TurnView]:
        """Every turn of a conversation, oldest first."""
        with self._session() as s:
            turns = s.scalars(select(Turn).where(Turn.conversation_id == conversation_id).order_by(Turn.index)
                              .options(selectinload(Turn.picks).selectinload(Pick.track))).all()
            if not turns and s.get(Conversation, conversation_id) is None:
                raise ConversationNotFound(f"conversation {conversation_id}")
            return [self._view(s, t) for t in turns]

    def video_facts(self, conversation_id: int) -> dict | None:
        """The measured facts of a conversation's video (core.video_facts), None before analysis."""
        with self._session() as s:
            conv = s.get(Conversation, conversation_id)
            if conv is None:
                raise ConversationNotFound(f"conversation {conversation_id}")
            return conv.video.facts if conv.video is not None else None

    def wait(self, turn_id: int, timeout: float = 60.0, poll_s: float = 0.2) -> TurnView:
        """Poll until the turn is finished (or ``timeout`` seconds pass); returns its view."""
        end = time.monotonic() + timeout
        while True:
            view = self.get_turn(turn_id)
            if view.finished or time.monotonic() > end:
                return view
            time.sleep(poll_s)

    def claim_deliveries(self, platform: str | None = None, limit: int = 20) -> list[TurnView]:
        """Finished turns nobody has posted yet, each claimed for exactly one caller.

        The claim is one ``UPDATE ... SET delivered_at = now WHERE <still claimable>`` per
        turn, so two front-end processes (or one restarted) never get the same turn. A claim
        is a lease: the caller ends it with :meth:`finish_delivery` (posted, or dropped for
        good) or :meth:`release_delivery` (posting failed, offer it again). A claim still open
        after ``delivery_lease_s`` (its process died mid-post) is offered again, so a result
        is posted at least once rather than lost.
        """
        stale = utcnow() - timedelta(seconds=self.settings.delivery_lease_s)
        claimable = and_(Turn.posted_at.is_(None), or_(Turn.delivered_at.is_(None), Turn.delivered_at < stale))
        with self._session() as s:
            q = (select(Turn.id).join(Conversation)
                 .where(Turn.status.in_([TurnStatus.done, TurnStatus.failed]), claimable)
                 .order_by(Turn.finished_at, Turn.id).limit(limit))
            if platform:
                q = q.where(Conversation.platform == platform)
            candidates = list(s.scalars(q))
        claimed = []
        for turn_id in candidates:
            with self._session() as s:
                won = s.execute(update(Turn).where(Turn.id == turn_id, claimable)
                                .values(delivered_at=utcnow())).rowcount
            if won == 1:
                claimed.append(turn_id)
        if not claimed:
            return []
        with self._session() as s:
            turns = s.scalars(select(Turn).where(Turn.id.in_(claimed)).order_by(Turn.finished_at, Turn.id)
                              .options(selectinload(Turn.picks).selectinload(Pick.track))).all()
            return [self._view(s, t) for t in turns]

    def release_delivery(self, turn_id: int) -> None:
        """Undo a claim after posting failed, so the turn is offered again."""
        with self._session() as s:
            s.execute(update(Turn).where(Turn.id == turn_id, Turn.posted_at.is_(None)).values(delivered_at=None))

    def finish_delivery(self, turn_id: int) -> None:
        """End a claim for good: the result was posted (or can never be, e.g. the channel is gone)."""
        with self._session() as s:
            s.execute(update(Turn).where(Turn.id == turn_id).values(posted_at=utcnow()))

    def _view(self, s: Session, turn: Turn) -> TurnView:
        conv = turn.conversation
        filters = TrackFilter.from_dict(turn.filters)
        applied = filters.describe()
        notes: list[str] = []
        used = None
        if turn.feedback_text:
            used, truncated = truncate(turn.feedback_text, MAX_FEEDBACK_CHARS)
            if truncated:
                notes.append(f"Your message was long, so I read only its first {MAX_FEEDBACK_CHARS:,} characters.")
            if parse_feedback(turn.feedback_text, allow_empty=True).repeat:
                notes.append("Tracks I showed before may come back, as you asked.")
        if applied:
            notes.append("Filters applied: " + ", ".join(applied) + ".")
        picks = [PickView(
            pick_id=p.id, rank=p.rank, track_id=p.track_id, title=p.track.title, artist=p.track.artist,
            album=p.track.album, score=p.score, match_percent=ScoredTrack(p.track_id, p.score).match_percent,
            tags=track_tags(p.track), tempo_bpm=p.track.tempo_bpm, duration_s=p.track.duration_s,
            instrumental=p.track.instrumental, vocal_prob=p.track.vocal_prob, licence=p.track.licence,
            attribution=p.track.attribution, path=p.track.path, explanation=p.explanation,
            explanation_fallback=p.explanation_fallback) for p in turn.picks]
        if turn.status is TurnStatus.done and not picks:
            notes.append("No track in the catalog matches what you asked for"
                         + (f" ({', '.join(applied)})" if applied else "")
                         + '. Loosen it, e.g. "any tempo", "any length" or "no filters".')
        return TurnView(
            turn_id=turn.id, conversation_id=turn.conversation_id, index=turn.index, status=turn.status.value,
            feedback=used, filters=dict(turn.filters or {}), filters_applied=applied, error=turn.error,
            picks=picks, notes=notes, timings=dict(turn.timings or {}), attempts=turn.attempts,
            platform=conv.platform, workspace_id=conv.workspace_id, channel_id=conv.channel_id,
            thread_id=conv.thread_id, user_id=conv.user_id, delivered=turn.delivered_at is not None)

    # --- recovery ------------------------------------------------------------------------------

    def requeue_stalled(self, older_than_s: float | None = None) -> list[int]:
        """Send again the jobs of turns still queued after ``older_than_s`` (default: the job
        timeout) — e.g. their message was lost with a restarted broker. Duplicates are
        harmless: a job for a finished or owned turn does nothing. Returns the turn ids."""
        older = older_than_s if older_than_s is not None else self.settings.job_timeout_s
        cutoff = utcnow() - timedelta(seconds=older)
        with self._session() as s:
            stalled = list(s.scalars(select(Turn.id).where(Turn.status == TurnStatus.queued,
                                                            Turn.created_at < cutoff).order_by(Turn.id)))
        sent = []
        for turn_id in stalled:
            try:
                self.dispatcher.submit(turn_id, uuid.uuid4().hex)
                sent.append(turn_id)
            except DispatchError as exc:
                log.warning("could not requeue turn %s: %s", turn_id, exc)
                break
        return sent

    # --- privacy -------------------------------------------------------------------------------

    def forget_user(self, platform: str, user_id: str, *, actor: str | None = None) -> ForgetReport:
        """Delete a user's conversations (turns, picks, reactions, flags), their reactions
        elsewhere, and the videos only they sent (files and cached features). Writes the
        audit log. Returns what was deleted."""
        report = ForgetReport()
        target = f"user:{platform}:{user_id}"
        with self._session() as s:
            conv_ids = list(s.scalars(select(Conversation.id).where(Conversation.platform == platform,
                                                                    Conversation.user_id == user_id)))
            turn_ids = list(s.scalars(select(Turn.id).where(Turn.conversation_id.in_(conv_ids))))
            video_ids = set(s.scalars(select(Conversation.video_id).where(Conversation.id.in_(conv_ids),
                                                                          Conversation.video_id.is_not(None))))
            their_reactions = (select(Reaction.id).join(Pick, Pick.id == Reaction.pick_id)
                               .join(Turn, Turn.id == Pick.turn_id).join(Conversation)
                               .where(Reaction.user_id == user_id, Conversation.platform == platform))
            report.reactions = s.execute(delete(Reaction).where(or_(
                Reaction.id.in_(their_reactions),
                Reaction.pick_id.in_(select(Pick.id).where(Pick.turn_id.in_(turn_ids))))
            ).execution_options(synchronize_session=False)).rowcount
            s.execute(delete(PlatformEvent).where(PlatformEvent.turn_id.in_(turn_ids)))
            s.execute(delete(Conversation).where(Conversation.id.in_(conv_ids)))  # cascades in the database
            report.conversations, report.turns = len(conv_ids), len(turn_ids)
            for video_id in video_ids:
                in_use = s.scalar(select(func.count()).select_from(Conversation).where(Conversation.video_id == video_id))
                if in_use:
                    continue  # the same file sent by someone else stays theirs
                video = s.get(Video, video_id)
                report.files += [p for p in (video.path, video.features_path) if p]
                s.delete(video)
                report.videos += 1
            s.add(AuditLog(actor=actor or target, action="forget_user", target=target, details={
                "conversations": report.conversations, "turns": report.turns,
                "reactions": report.reactions, "videos": report.videos}))
        from core.files import remove_stored_files

        remove_stored_files(report.files, self.settings)
        return report


def _aware(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; they are UTC."""
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)

