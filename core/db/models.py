"""The SQL schema (SQLAlchemy 2.x typed models).

Times are timezone-aware UTC. JSON columns hold small structured data (tags with
scores, stage timings, filters) that is read whole and never queried inside.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names so Alembic batch migrations work the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: DateTime(timezone=True), dict: JSON, list: JSON}


class TurnStatus(str, enum.Enum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class ConversationStatus(str, enum.Enum):
    active = "active"
    closed = "closed"
    deleted = "deleted"


class ReactionKind(str, enum.Enum):
    like = "like"
    dislike = "dislike"
    more_like_this = "more_like_this"


class Track(Base):
    """A catalog track: where it came from, what it is, and what the taggers heard."""

    __tablename__ = "tracks"

    id: Mapped[int] = mapped_column(primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(String(300))
    artist: Mapped[str | None] = mapped_column(String(300))
    album: Mapped[str | None] = mapped_column(String(300))
    duration_s: Mapped[float] = mapped_column(Float)
    licence: Mapped[str] = mapped_column(String(200), default="unknown")
    attribution: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(100), default="local")
    tags: Mapped[dict] = mapped_column(default=dict)  # {"mtt": {tag: p}, "msd": {tag: p}}
    # The reconciled tempo everyone reads (core.catalog.tempo); the beat tracker's own
    # number, the onset rate and why one was chosen over the other are kept beside it.
    tempo_bpm: Mapped[float | None] = mapped_column(Float)
    tempo_raw_bpm: Mapped[float | None] = mapped_column(Float)
    onset_rate: Mapped[float | None] = mapped_column(Float)  # onsets per second
    tempo_feel: Mapped[str | None] = mapped_column(String(10))  # slow | moderate | fast
    tempo_basis: Mapped[dict | None] = mapped_column()  # {"version", "factor", "reason", evidence…}
    vocal_prob: Mapped[float | None] = mapped_column(Float)  # P(vocals); < 0.5 = instrumental
    embedding_version: Mapped[str | None] = mapped_column(String(100))  # encoder profile that embedded it
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_tracks_source", "source"),
        Index("ix_tracks_tempo_bpm", "tempo_bpm"),
        Index("ix_tracks_duration_s", "duration_s"),
    )

    @property
    def instrumental(self) -> bool | None:
        return None if self.vocal_prob is None else self.vocal_prob < 0.5


class Video(Base):
    """An uploaded video, stored once per content hash; its features are cached on disk."""

    __tablename__ = "videos"

    id: Mapped[int] = mapped_column(primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str | None] = mapped_column(Text)  # None once media retention removed it
    filename: Mapped[str | None] = mapped_column(String(300))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    duration_s: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    features_path: Mapped[str | None] = mapped_column(Text)
    # The measured video facts (core.video_facts.VideoFacts.to_dict), once analysed.
    facts: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))  # None is SQL NULL, not JSON null
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    """One thread about one video, on one platform."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))  # discord | slack | cli | web
    workspace_id: Mapped[str | None] = mapped_column(String(64))  # guild or Slack team
    channel_id: Mapped[str | None] = mapped_column(String(64))
    thread_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    user_name: Mapped[str | None] = mapped_column(String(200))
    video_id: Mapped[int | None] = mapped_column(ForeignKey("videos.id", ondelete="SET NULL"))
    status: Mapped[ConversationStatus] = mapped_column(
        Enum(ConversationStatus, native_enum=False, length=20), default=ConversationStatus.active)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    video: Mapped[Video | None] = relationship()
    turns: Mapped[list[Turn]] = relationship(
        back_populates="conversation", order_by="Turn.index", cascade="all, delete-orphan",
        passive_deletes=True)
    flags: Mapped[list[Flag]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", passive_deletes=True)

    __table_args__ = (
        Index("ix_conversations_created_at", "created_at"),
        Index("ix_conversations_platform_workspace", "platform", "workspace_id", "created_at"),
        Index("ix_conversations_user", "platform", "user_id"),
        Index("ix_conversations_thread", "platform", "thread_id"),
        Index("ix_conversations_channel", "channel_id"),
    )


class Turn(Base):
    """One request in a conversation: turn 0 is the video, later turns carry feedback."""

    __tablename__ = "turns"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    feedback_text: Mapped[str | None] = mapped_column(Text)
    filters: Mapped[dict] = mapped_column(default=dict)  # hard filters parsed from the feedback
    status: Mapped[TurnStatus] = mapped_column(
        Enum(TurnStatus, native_enum=False, length=20), default=TurnStatus.queued)
    error: Mapped[str | None] = mapped_column(Text)  # user-facing reason when failed
    timings: Mapped[dict] = mapped_column(default=dict)  # stage -> seconds
    job_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A front end claimed the result for posting; the claim is a lease until posted_at is set.
    delivered_at: Mapped[datetime | None] = mapped_column()
    posted_at: Mapped[datetime | None] = mapped_column()  # posted (or dropped for good) by the front end
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    conversation: Mapped[Conversation] = relationship(back_populates="turns")
    picks: Mapped[list[Pick]] = relationship(
        back_populates="turn", order_by="Pick.rank", cascade="all, delete-orphan",
        passive_deletes=True)

    __table_args__ = (
        UniqueConstraint("conversation_id", "index", name="uq_turns_conversation_index"),
        Index("ix_turns_status", "status"),
        Index("ix_turns_undelivered", "status", "delivered_at"),
    )


class Pick(Base):
    """A ranked track recommended in a turn, with its explanation once written."""

    __tablename__ = "picks"

    id: Mapped[int] = mapped_column(primary_key=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    score: Mapped[float] = mapped_column(Float)
    explanation: Mapped[str | None] = mapped_column(Text)
    explanation_fallback: Mapped[bool] = mapped_column(Boolean, default=False)

    turn: Mapped[Turn] = relationship(back_populates="picks")
    track: Mapped[Track] = relationship()
    reactions: Mapped[list[Reaction]] = relationship(
        back_populates="pick", cascade="all, delete-orphan", passive_deletes=True)

    __table_args__ = (
        UniqueConstraint("turn_id", "rank", name="uq_picks_turn_rank"),
        Index("ix_picks_track", "track_id"),
    )


class Reaction(Base):
    """A user's like / dislike / 'more like this' on a pick."""

    __tablename__ = "reactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    pick_id: Mapped[int] = mapped_column(ForeignKey("picks.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[ReactionKind] = mapped_column(Enum(ReactionKind, native_enum=False, length=20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    pick: Mapped[Pick] = relationship(back_populates="reactions")

    __table_args__ = (Index("ix_reactions_user", "user_id"),)


class Flag(Base):
    """A moderator's flag on a conversation."""

    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    moderator: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="flags")

    __table_args__ = (Index("ix_flags_conversation", "conversation_id"),)


class AuditLog(Base):
    """Append-only record of who did what to which records (moderation, retention, forget-me)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))  # moderator name, "retention", "user:<platform>:<id>"
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(Text)  # e.g. "conversation:12" or "user:discord:42"
    details: Mapped[dict] = mapped_column(default=dict)

    __table_args__ = (Index("ix_audit_log_at", "at"),)


class PlatformEvent(Base):
    """Dedupe table: one row per platform event already acted on."""

    __tablename__ = "platform_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(200))
    turn_id: Mapped[int | None] = mapped_column(ForeignKey("turns.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("platform", "event_id", name="uq_platform_events_platform_event"),
        Index("ix_platform_events_received_at", "received_at"),
    )


class WorkspaceSettings(Base):
    """What a server's admins chose for MuseChat in their Discord guild or Slack workspace.

    Holds no personal data. Unset values fall back to the deployment's settings.
    """

    __tablename__ = "workspace_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    workspace_id: Mapped[str] = mapped_column(String(64))
    allowed_channels: Mapped[list] = mapped_column(default=list)  # channel ids; empty = every channel
    turns_per_hour: Mapped[int | None] = mapped_column(Integer)  # per user; 0 = no limit, None = default
    max_upload_mb: Mapped[float | None] = mapped_column(Float)  # None = MUSECHAT_MAX_UPLOAD_MB
    shared_threads: Mapped[bool] = mapped_column(Boolean, default=False)  # anyone may refine anyone's picks
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("platform", "workspace_id", name="uq_workspace_settings_platform_workspace"),
    )


# --- Slack's installation and OAuth state stores ------------------------------------------------
# slack_sdk's SQLAlchemy stores (used by bots/slack for multi-workspace installs) read and
# write these tables through their own table objects. They are declared here too so this
# schema and the migrations stay one (autogenerate never proposes dropping them). Columns
# and index names as slack_sdk 3.48 defines them, including its naive UTC timestamps.

class SlackInstallation(Base):
    """One OAuth install of the Slack app (slack_sdk ``Installation``); holds tokens."""

    __tablename__ = "slack_installations"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(32))
    app_id: Mapped[str] = mapped_column(String(32))
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    enterprise_url: Mapped[str | None] = mapped_column(String(200))
    team_id: Mapped[str | None] = mapped_column(String(32))
    team_name: Mapped[str | None] = mapped_column(String(200))
    bot_token: Mapped[str | None] = mapped_column(String(200))
    bot_id: Mapped[str | None] = mapped_column(String(32))
    bot_user_id: Mapped[str | None] = mapped_column(String(32))
    bot_scopes: Mapped[str | None] = mapped_column(String(1000))
    bot_refresh_token: Mapped[str | None] = mapped_column(String(200))
    bot_token_expires_at: Mapped[datetime | None] = mapped_column(DateTime())
    user_id: Mapped[str] = mapped_column(String(32))
    user_token: Mapped[str | None] = mapped_column(String(200))
    user_scopes: Mapped[str | None] = mapped_column(String(1000))
    user_refresh_token: Mapped[str | None] = mapped_column(String(200))
    user_token_expires_at: Mapped[datetime | None] = mapped_column(DateTime())
    incoming_webhook_url: Mapped[str | None] = mapped_column(String(200))
    incoming_webhook_channel: Mapped[str | None] = mapped_column(String(200))
    incoming_webhook_channel_id: Mapped[str | None] = mapped_column(String(200))
    incoming_webhook_configuration_url: Mapped[str | None] = mapped_column(String(200))
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, default=False)
    token_type: Mapped[str | None] = mapped_column(String(32))
    installed_at: Mapped[datetime] = mapped_column(DateTime())

    __table_args__ = (
        Index("slack_installations_idx", "client_id", "enterprise_id", "team_id", "user_id", "installed_at"),
    )


class SlackBotInstallation(Base):
    """The bot token of an install (slack_sdk ``Bot``): what answers in a workspace."""

    __tablename__ = "slack_bots"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(32))
    app_id: Mapped[str] = mapped_column(String(32))
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    team_id: Mapped[str | None] = mapped_column(String(32))
    team_name: Mapped[str | None] = mapped_column(String(200))
    bot_token: Mapped[str | None] = mapped_column(String(200))
    bot_id: Mapped[str | None] = mapped_column(String(32))
    bot_user_id: Mapped[str | None] = mapped_column(String(32))
    bot_scopes: Mapped[str | None] = mapped_column(String(1000))
    bot_refresh_token: Mapped[str | None] = mapped_column(String(200))
    bot_token_expires_at: Mapped[datetime | None] = mapped_column(DateTime())
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, default=False)
    installed_at: Mapped[datetime] = mapped_column(DateTime())

    __table_args__ = (Index("slack_bots_idx", "client_id", "enterprise_id", "team_id", "installed_at"),)


class SlackOAuthState(Base):
    """A pending OAuth install's state parameter (slack_sdk's state store)."""

    __tablename__ = "slack_oauth_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(200))
    expire_at: Mapped[datetime] = mapped_column(DateTime())


# --- moderation console ------------------------------------------------------------------

class ModeratorRole(str, enum.Enum):
    moderator = "moderator"  # reads conversations, flags and unflags them
    admin = "admin"  # also deletes conversations and users' data, and exports


class Moderator(Base):
    """An account of the moderation console; the password is stored only as an argon2 hash."""

    __tablename__ = "moderators"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[ModeratorRole] = mapped_column(Enum(ModeratorRole, native_enum=False, length=20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()


class ModeratorSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so a
    leaked database does not hand out live sessions."""

    __tablename__ = "moderator_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    moderator_id: Mapped[int] = mapped_column(ForeignKey("moderators.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()

    moderator: Mapped[Moderator] = relationship()

    __table_args__ = (
        Index("ix_moderator_sessions_moderator", "moderator_id"),
        Index("ix_moderator_sessions_expires_at", "expires_at"),
    )


class LoginAttempt(Base):
    """Recent console sign-in attempts, for rate limiting by account name and client address."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    client: Mapped[str] = mapped_column(String(64))
    success: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_login_attempts_name_at", "name", "at"),
        Index("ix_login_attempts_client_at", "client", "at"),
    )


# Console filters. Feedback search is a substring match (ILIKE on PostgreSQL, LIKE on
# SQLite): on PostgreSQL a trigram GIN index serves it; on SQLite this is a plain index
# (SQLite scans either way, which is fine at the sizes SQLite is used for).
Index("ix_turns_feedback_text_trgm", Turn.feedback_text, postgresql_using="gin",
      postgresql_ops={"feedback_text": "gin_trgm_ops"})
Index("ix_conversations_flagged_created_at", Conversation.flagged, Conversation.created_at)
Index("ix_conversations_user_id", Conversation.user_id)
Index("ix_conversations_updated_at", Conversation.updated_at)
