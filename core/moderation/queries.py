"""What the console reads: the filtered, paginated conversation list with its counts, and
everything about one conversation.

Filters combine with AND. Feedback search splits the query into words; a conversation
matches when each word appears (case-insensitively, as a substring) in the feedback of
any of its turns. On PostgreSQL a trigram index serves those ILIKE matches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import ColumnElement, and_, case, exists, func, select
from sqlalchemy.orm import Session, selectinload

from core.catalog.analysis import track_tags
from core.db.models import AuditLog, Conversation, Pick, Turn, TurnStatus, Video
from core.engine import ScoredTrack

MAX_SEARCH_WORDS = 8
MAX_FIELD_CHARS = 200
SNIPPET_CHARS = 160


def _like_pattern(word: str) -> str:
    """``%word%`` with LIKE's wildcards in the word taken literally (escape character ``\\``)."""
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _parse_date(value: str | None, name: str, errors: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        errors.append(f"{name}: not a date (YYYY-MM-DD)")
        return None


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


@dataclass(frozen=True)
class ConversationFilter:
    """The console's filters; empty fields do not filter. Dates are UTC days, both inclusive."""

    platform: str | None = None
    workspace: str | None = None
    channel: str | None = None
    user: str | None = None  # a platform user id, or a display name (case-insensitive)
    since: date | None = None
    until: date | None = None
    failed: bool = False  # only conversations with a failed turn
    flagged: bool = False  # only conversations with an active flag
    q: str | None = None  # words searched in the feedback text
    errors: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ConversationFilter:
        """Read query-string or form fields; unreadable values are dropped and listed in ``errors``."""
        errors: list[str] = []

        def text(key: str) -> str | None:
            value = (params.get(key) or "").strip()
            return value[:MAX_FIELD_CHARS] or None

        def flag(key: str) -> bool:
            return (params.get(key) or "").lower() in ("1", "true", "on", "yes")

        return cls(platform=text("platform"), workspace=text("workspace"), channel=text("channel"),
                   user=text("user"), since=_parse_date(params.get("since"), "since", errors),
                   until=_parse_date(params.get("until"), "until", errors), failed=flag("failed"),
                   flagged=flag("flagged"), q=text("q"), errors=tuple(errors))

    def to_params(self) -> dict[str, str]:
        """The non-empty filters as strings (for links and hidden form fields)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "errors" or value in (None, False, ""):
                continue
            out[f.name] = "1" if value is True else (value.isoformat() if isinstance(value, date) else str(value))
        return out

    @property
    def active(self) -> bool:
        return bool(self.to_params())

    def words(self) -> list[str]:
        return (self.q or "").split()[:MAX_SEARCH_WORDS]

    def conditions(self, *, skip: tuple[str, ...] = ()) -> list[ColumnElement[bool]]:
        """SQL conditions on Conversation; ``skip`` leaves some filters out (for facet counts)."""
        c = Conversation
        out: list[ColumnElement[bool]] = []
        if self.platform and "platform" not in skip:
            out.append(c.platform == self.platform)
        if self.workspace:
            out.append(c.workspace_id == self.workspace)
        if self.channel:
            out.append(c.channel_id == self.channel)
        if self.user:
            out.append((c.user_id == self.user) | (func.lower(c.user_name) == self.user.lower()))
        if self.since:
            out.append(c.created_at >= _start_of(self.since))
        if self.until:
            out.append(c.created_at < _start_of(self.until + timedelta(days=1)))
        if self.flagged and "flagged" not in skip:
            out.append(c.flagged.is_(True))
        if self.failed and "failed" not in skip:
            out.append(_has_failed_turn())
        for word in self.words():
            out.append(exists().where(Turn.conversation_id == c.id,
                                      Turn.feedback_text.ilike(_like_pattern(word), escape="\\")))
        return out


def _has_failed_turn() -> ColumnElement[bool]:
    return exists().where(Turn.conversation_id == Conversation.id, Turn.status == TurnStatus.failed)


@dataclass
class ConversationRow:
    id: int
    platform: str
    workspace_id: str | None
    channel_id: str | None
    user_id: str
    user_name: str | None
    created_at: datetime
    updated_at: datetime
    flagged: bool
    turns: int = 0
    failed_turns: int = 0
    pending_turns: int = 0
    feedback: str | None = None  # the latest feedback, shortened


@dataclass
class Counts:
    """How many conversations match, and how many would with each quick filter toggled on."""

    total: int
    flagged: int
    failed: int
    platforms: dict[str, int]


@dataclass
class ConversationPage:
    rows: list[ConversationRow]
    counts: Counts
    page: int
    pages: int
    page_size: int


def count_conversations(s: Session, flt: ConversationFilter) -> Counts:
    """The counts in one pass over the matching conversations.

    Grouped by platform over every filter but the three quick ones (platform, flagged,
    failed), each group counts what matches with the quick filters applied, and what
    would match with "flagged" or "failed" turned on; summing the groups gives the total
    and the quick-filter counts, and each group's first count is its platform's count.
    """
    # Conversations with a failed turn (few) joined once, not an EXISTS probe per row.
    failed_ids = (select(Turn.conversation_id.label("id")).where(Turn.status == TurnStatus.failed)
                  .distinct().subquery())
    flagged, failed = Conversation.flagged.is_(True), failed_ids.c.id.is_not(None)

    def n(*conds: ColumnElement[bool]):
        return func.sum(case((and_(*conds), 1), else_=0)) if conds else func.count(Conversation.id)

    quick_flagged = (flagged,) if flt.flagged else ()
    quick_failed = (failed,) if flt.failed else ()
    rows = s.execute(
        select(Conversation.platform, n(*quick_flagged, *quick_failed), n(flagged, *quick_failed),
               n(failed, *quick_flagged))
        .outerjoin(failed_ids, failed_ids.c.id == Conversation.id)
        .where(*flt.conditions(skip=("platform", "flagged", "failed")))
        .group_by(Conversation.platform).order_by(Conversation.platform)).all()
    mine = [r for r in rows if not flt.platform or r[0] == flt.platform]
    return Counts(total=sum(r[1] or 0 for r in mine), flagged=sum(r[2] or 0 for r in mine),
                  failed=sum(r[3] or 0 for r in mine),
                  platforms={r[0]: r[1] or 0 for r in rows if r[1]})


def list_conversations(s: Session, flt: ConversationFilter, *, page: int = 1,
                       page_size: int = 50) -> ConversationPage:
    """One page of matching conversations, newest first, with the counts."""
    counts = count_conversations(s, flt)
    pages = max(1, -(-counts.total // page_size))
    page = min(max(1, page), pages)
    convs = s.scalars(select(Conversation).where(*flt.conditions())
                      .order_by(Conversation.created_at.desc(), Conversation.id.desc())
                      .offset((page - 1) * page_size).limit(page_size)).all()
    rows = {c.id: ConversationRow(c.id, c.platform, c.workspace_id, c.channel_id, c.user_id, c.user_name,
                                  c.created_at, c.updated_at, c.flagged) for c in convs}
    if rows:
        # One query for the page's turns (a few per conversation), not one per row.
        turns = s.execute(select(Turn.conversation_id, Turn.index, Turn.status,
                                 func.substr(Turn.feedback_text, 1, SNIPPET_CHARS + 1).label("feedback"))
                          .where(Turn.conversation_id.in_(rows)).order_by(Turn.conversation_id, Turn.index))
        for t in turns:
            row = rows[t.conversation_id]
            row.turns += 1
            row.failed_turns += t.status is TurnStatus.failed
            row.pending_turns += t.status in (TurnStatus.queued, TurnStatus.running)
            if t.feedback:
                row.feedback = t.feedback if len(t.feedback) <= SNIPPET_CHARS else t.feedback[:SNIPPET_CHARS] + "…"
    return ConversationPage([rows[c.id] for c in convs], counts, page, pages, page_size)


def matching_ids(s: Session, flt: ConversationFilter) -> list[int]:
    """Every matching conversation id, newest first (exports)."""
    return list(s.scalars(select(Conversation.id).where(*flt.conditions())
                          .order_by(Conversation.created_at.desc(), Conversation.id.desc())))


# --- one conversation ----------------------------------------------------------------------

@dataclass
class ReactionDetail:
    user_id: str
    kind: str
    at: datetime


@dataclass
class PickDetail:
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
    licence: str
    explanation: str | None
    explanation_fallback: bool
    reactions: list[ReactionDetail]


@dataclass
class TurnDetail:
    id: int
    index: int
    feedback: str | None
    status: str
    error: str | None
    filters: dict
    timings: dict
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    delivered_at: datetime | None
    picks: list[PickDetail]


@dataclass
class VideoDetail:
    id: int
    content_hash: str
    filename: str | None
    size_bytes: int
    duration_s: float | None
    width: int | None
    height: int | None
    file_kept: bool  # False once media retention removed the file
    facts: dict | None = None  # the measured video facts (core.video_facts), once analysed


@dataclass
class FlagDetail:
    moderator: str
    reason: str
    active: bool
    created_at: datetime


@dataclass
class ConversationDetail:
    id: int
    platform: str
    workspace_id: str | None
    channel_id: str | None
    thread_id: str | None
    user_id: str
    user_name: str | None
    status: str
    flagged: bool
    created_at: datetime
    updated_at: datetime
    video: VideoDetail | None
    turns: list[TurnDetail]
    flags: list[FlagDetail]
    history: list[AuditLog]


def conversation_detail(s: Session, conversation_id: int) -> ConversationDetail | None:
    """Everything the conversation page shows, or None when there is no such conversation."""
    conv = s.get(Conversation, conversation_id, options=[
        selectinload(Conversation.turns).selectinload(Turn.picks).selectinload(Pick.track),
        selectinload(Conversation.turns).selectinload(Turn.picks).selectinload(Pick.reactions),
        selectinload(Conversation.flags), selectinload(Conversation.video)])
    if conv is None:
        return None
    video = conv.video
    turns = [TurnDetail(
        id=t.id, index=t.index, feedback=t.feedback_text, status=t.status.value, error=t.error,
        filters=dict(t.filters or {}), timings=dict(t.timings or {}), attempts=t.attempts,
        created_at=t.created_at, started_at=t.started_at, finished_at=t.finished_at,
        delivered_at=t.delivered_at,
        picks=[PickDetail(
            rank=p.rank, track_id=p.track_id, title=p.track.title, artist=p.track.artist,
            album=p.track.album, score=p.score, match_percent=ScoredTrack(p.track_id, p.score).match_percent,
            tags=track_tags(p.track), tempo_bpm=p.track.tempo_bpm, duration_s=p.track.duration_s,
            licence=p.track.licence, explanation=p.explanation, explanation_fallback=p.explanation_fallback,
            reactions=[ReactionDetail(r.user_id, r.kind.value, r.created_at)
                       for r in sorted(p.reactions, key=lambda r: (r.created_at, r.id))])
            for p in t.picks]) for t in conv.turns]
    # Views are audited too, but would drown the actions in the page's history.
    history = s.scalars(select(AuditLog).where(AuditLog.target == f"conversation:{conv.id}", AuditLog.action != "view")
                        .order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(50)).all()
    return ConversationDetail(
        id=conv.id, platform=conv.platform, workspace_id=conv.workspace_id, channel_id=conv.channel_id,
        thread_id=conv.thread_id, user_id=conv.user_id, user_name=conv.user_name, status=conv.status.value,
        flagged=conv.flagged, created_at=conv.created_at, updated_at=conv.updated_at,
        video=VideoDetail(video.id, video.content_hash, video.filename, video.size_bytes, video.duration_s,
                          video.width, video.height, bool(video.path), video.facts) if video else None,
        turns=turns,
        flags=[FlagDetail(f.moderator, f.reason, f.active, f.created_at)
               for f in sorted(conv.flags, key=lambda f: (f.created_at, f.id), reverse=True)],
        history=list(history))


def video_of(s: Session, conversation_id: int) -> Video | None:
    return s.scalar(select(Video).join(Conversation, Conversation.video_id == Video.id)
                    .where(Conversation.id == conversation_id))

