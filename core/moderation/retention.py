"""The retention sweep: delete what is older than the retention settings.

* Conversations whose last activity (``updated_at``: the latest turn) is older than
  ``retention_conversation_days`` are deleted with their turns, picks, reactions and
  flags — except flagged ones, which stay until a moderator unflags them.
* Uploaded video files, their cached features and thumbnails are deleted once every
  conversation using the file has been idle longer than ``retention_media_days``; the
  conversation stays readable (a later reply asks the user to send the video again).
* Ended console sessions, old sign-in attempts and old platform event ids (only kept to
  drop duplicate deliveries) go too.

Run by the Celery beat schedule (``workers``) and by ``musechat retention run``; each run
that deletes user data writes one audit entry naming the conversations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update

from core.config import Settings
from core.db.models import Conversation, PlatformEvent, Video, utcnow
from core.db.session import session_scope
from core.moderation import accounts, audit, thumbnails
from core.moderation.actions import delete_conversations, media_files, remove_files


@dataclass
class RetentionReport:
    conversations: int = 0
    turns: int = 0
    reactions: int = 0
    videos: int = 0  # video rows deleted (no conversation uses them any more)
    media: int = 0  # videos whose files were removed
    files: int = 0
    platform_events: int = 0
    sessions: int = 0
    login_attempts: int = 0
    conversation_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def run_retention(settings: Settings, *, url: str | None = None, now: datetime | None = None,
                  actor: str = audit.RETENTION) -> RetentionReport:
    """Delete what the retention settings say is too old (``now``: for tests). Returns counts."""
    now = now or utcnow()
    report = RetentionReport()
    files: list[str] = []
    with session_scope(url) as s:
        if settings.retention_conversation_days:
            cutoff = now - timedelta(days=settings.retention_conversation_days)
            ids = list(s.scalars(select(Conversation.id).where(Conversation.updated_at < cutoff,
                                                              Conversation.flagged.is_(False))))
            deleted = delete_conversations(s, ids, settings)
            files += deleted.files
            report.conversations, report.turns = deleted.conversations, deleted.turns
            report.reactions, report.videos = deleted.reactions, deleted.videos
            report.conversation_ids = deleted.conversation_ids
            report.platform_events = s.execute(
                PlatformEvent.__table__.delete().where(PlatformEvent.received_at < cutoff)).rowcount
        if settings.retention_media_days:
            cutoff = now - timedelta(days=settings.retention_media_days)
            last_use = (select(func.max(Conversation.updated_at)).where(Conversation.video_id == Video.id)
                        .scalar_subquery())
            stale = s.scalars(select(Video).where(
                func.coalesce(last_use, Video.created_at) < cutoff,
                or_(Video.path.is_not(None), Video.features_path.is_not(None)))).all()
            for video in stale:
                files += media_files(video, settings)
                report.media += 1
            if stale:
                s.execute(update(Video).where(Video.id.in_([v.id for v in stale]))
                          .values(path=None, features_path=None))
        pruned = accounts.prune(now, settings, s)
        report.sessions, report.login_attempts = pruned["sessions"], pruned["login_attempts"]
        if report.conversations or report.media:
            audit.record(s, actor, "retention", "conversations", conversation_ids=report.conversation_ids,
                         conversations=report.conversations, turns=report.turns, reactions=report.reactions,
                         videos=report.videos, media=report.media,
                         conversation_days=settings.retention_conversation_days,
                         media_days=settings.retention_media_days)
        known = set(s.scalars(select(Video.content_hash).where(Video.path.is_not(None))))
    # Thumbnails whose video is gone (deleted elsewhere, e.g. by a user's "forget me").
    files += [str(p) for h in thumbnails.cached_hashes(settings) - known
              for p in thumbnails.cached_files(settings, h)]
    report.files = len(set(files))
    remove_files(sorted(set(files)), settings)
    return report
