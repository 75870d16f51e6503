"""What moderators do to conversations; each action commits together with its audit entry.

Deleting is real deletion (rows and files), not a hidden flag: a conversation's turns,
picks, reactions and flags go with it, and its video (file, cached features, thumbnails)
when no other conversation uses the same file.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.config import Settings
from core.db.models import Conversation, Flag, Pick, PlatformEvent, Reaction, Turn, Video
from core.db.session import session_scope
from core.errors import UserError
from core.moderation import audit, thumbnails

log = logging.getLogger(__name__)

MAX_REASON_CHARS = 1000
MAX_IDENTITIES = 50


class NotFound(UserError):
    user_message = "That conversation does not exist (any more)."


class BadRequest(UserError):
    """A form value the console cannot act on; ``user_message`` says which."""


@dataclass
class DeletionReport:
    conversations: int = 0
    turns: int = 0
    reactions: int = 0
    videos: int = 0
    conversation_ids: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"conversations": self.conversations, "turns": self.turns, "reactions": self.reactions,
                "videos": self.videos}


def _reason(reason: str | None, *, required: bool) -> str:
    text = " ".join((reason or "").split())
    if required and not text:
        raise BadRequest("empty reason", user_message="Please give a reason.")
    if len(text) > MAX_REASON_CHARS:
        raise BadRequest("reason too long", user_message=f"A reason has at most {MAX_REASON_CHARS} characters.")
    return text


def _keep_updated_at():
    # Moderation is not activity: flagging must not restart the retention clock, which
    # Conversation.updated_at's onupdate would do.
    return {"updated_at": Conversation.updated_at}


def flag(conversation_id: int, moderator: str, reason: str, *, url: str | None = None) -> None:
    """Flag a conversation with a reason (required)."""
    reason = _reason(reason, required=True)
    with session_scope(url) as s:
        if s.get(Conversation, conversation_id) is None:
            raise NotFound(f"conversation {conversation_id}")
        s.add(Flag(conversation_id=conversation_id, moderator=moderator, reason=reason, active=True))
        s.execute(update(Conversation).where(Conversation.id == conversation_id)
                  .values(flagged=True, **_keep_updated_at()))
        audit.record(s, moderator, "flag", f"conversation:{conversation_id}", reason=reason)


def unflag(conversation_id: int, moderator: str, reason: str | None = None, *, url: str | None = None) -> None:
    """Clear every active flag of a conversation (the flags stay in its history)."""
    reason = _reason(reason, required=False)
    with session_scope(url) as s:
        if s.get(Conversation, conversation_id) is None:
            raise NotFound(f"conversation {conversation_id}")
        cleared = s.execute(update(Flag).where(Flag.conversation_id == conversation_id, Flag.active.is_(True))
                            .values(active=False)).rowcount
        s.execute(update(Conversation).where(Conversation.id == conversation_id)
                  .values(flagged=False, **_keep_updated_at()))
        audit.record(s, moderator, "unflag", f"conversation:{conversation_id}", reason=reason, flags_cleared=cleared)


def delete_conversations(s: Session, ids: list[int], settings: Settings) -> DeletionReport:
    """Delete conversations and what only they use, inside ``s``. The files to remove are in
    the report's ``files``; remove them (:func:`remove_files`) after the commit."""
    report = DeletionReport()
    ids = list(s.scalars(select(Conversation.id).where(Conversation.id.in_(ids)).order_by(Conversation.id)))
    if not ids:
        return report
    turn_ids = list(s.scalars(select(Turn.id).where(Turn.conversation_id.in_(ids))))
    video_ids = set(s.scalars(select(Conversation.video_id).where(Conversation.id.in_(ids),
                                                                  Conversation.video_id.is_not(None))))
    report.reactions = s.scalar(select(func.count(Reaction.id)).join(Pick).where(Pick.turn_id.in_(turn_ids))) or 0
    s.execute(PlatformEvent.__table__.delete().where(PlatformEvent.turn_id.in_(turn_ids)))
    # Turns, picks, reactions and flags go by ON DELETE CASCADE.
    s.execute(Conversation.__table__.delete().where(Conversation.id.in_(ids)))
    report.conversations, report.turns, report.conversation_ids = len(ids), len(turn_ids), ids
    for video_id in sorted(video_ids):
        if s.scalar(select(func.count()).select_from(Conversation).where(Conversation.video_id == video_id)):
            continue  # the same file sent in another conversation stays for that one
        video = s.get(Video, video_id)
        report.files += media_files(video, settings)
        s.delete(video)
        report.videos += 1
    return report


def media_files(video: Video, settings: Settings) -> list[str]:
    """The files stored for a video: the upload, its cached features, its thumbnail strip."""
    files = [p for p in (video.path, video.features_path) if p]
    return files + [str(p) for p in thumbnails.cached_files(settings, video.content_hash)]


def remove_files(paths: list[str], settings: Settings) -> None:
    from core.files import remove_stored_files

    remove_stored_files(paths, settings)


def delete_conversation(conversation_id: int, moderator: str, settings: Settings, *,
                        url: str | None = None) -> DeletionReport:
    """Delete one conversation (admin); NotFound when it does not exist."""
    with session_scope(url) as s:
        report = delete_conversations(s, [conversation_id], settings)
        if not report.conversations:
            raise NotFound(f"conversation {conversation_id}")
        audit.record(s, moderator, "delete_conversation", f"conversation:{conversation_id}", **report.counts())
    remove_files(report.files, settings)
    return report


# --- a user's data on every platform -------------------------------------------------------

_IDENTITY = re.compile(r"^(?:(?P<platform>[a-z]{1,20}):)?(?P<user>[^\s:]{1,64})$")


def parse_identities(text: str) -> list[tuple[str | None, str]]:
    """``platform:user_id`` or a bare ``user_id`` (every platform), one per line or comma."""
    out: list[tuple[str | None, str]] = []
    for item in re.split(r"[\s,]+", text.strip()):
        if not item:
            continue
        m = _IDENTITY.match(item)
        if m is None:
            raise BadRequest(f"bad identity {item!r}", user_message=(
                f"Not a user id: {item[:80]!r}. Write platform:user_id (e.g. discord:1234) or a bare user id."))
        out.append((m["platform"], m["user"]))
    if not out:
        raise BadRequest("no identities", user_message="Give at least one user id.")
    if len(out) > MAX_IDENTITIES:
        raise BadRequest("too many identities", user_message=f"At most {MAX_IDENTITIES} user ids at once.")
    return list(dict.fromkeys(out))


def _platforms_of(s: Session, user_id: str) -> set[str]:
    """Platforms where ``user_id`` started a conversation or reacted to a pick."""
    started = s.scalars(select(Conversation.platform).where(Conversation.user_id == user_id).distinct())
    reacted = s.scalars(select(Conversation.platform).join(Turn).join(Pick).join(Reaction)
                        .where(Reaction.user_id == user_id).distinct())
    return set(started) | set(reacted)


@dataclass
class UserDeletion:
    identities: list[tuple[str, str]]  # (platform, user_id) pairs that had data
    conversations: int = 0
    turns: int = 0
    reactions: int = 0
    videos: int = 0
    conversation_ids: list[int] = field(default_factory=list)


def delete_user_data(identities: list[tuple[str | None, str]], moderator: str, settings: Settings, *,
                     url: str | None = None) -> UserDeletion:
    """Delete everything stored about the given users on every platform (admin).

    A bare user id (platform None) means that id on every platform where it has data.
    Uses the conversation service's :meth:`forget_user` (the same deletion a user's own
    "forget me" runs), then removes the thumbnails of the videos that went with it.
    """
    from core.conversation.service import ConversationService

    with session_scope(url) as s:
        pairs: list[tuple[str, str]] = []
        for platform, user_id in identities:
            for p in sorted([platform] if platform else _platforms_of(s, user_id)):
                pairs.append((p, user_id))
        conv_ids = sorted(set(s.scalars(select(Conversation.id).where(
            Conversation.user_id.in_([u for _, u in pairs]),
            Conversation.platform.in_([p for p, _ in pairs]))))) if pairs else []
        # Only the exact (platform, user) pairs count; the IN/IN above may over-select.
        conv_ids = [cid for cid, p, u in s.execute(select(Conversation.id, Conversation.platform, Conversation.user_id)
                                                   .where(Conversation.id.in_(conv_ids))) if (p, u) in pairs]
        hashes = set(s.scalars(select(Video.content_hash).join(Conversation, Conversation.video_id == Video.id)
                               .where(Conversation.id.in_(conv_ids))))
    result = UserDeletion(identities=pairs, conversation_ids=sorted(conv_ids))
    service = ConversationService(settings, database_url=url, dispatcher=_NoJobs())
    for platform, user_id in pairs:
        report = service.forget_user(platform, user_id, actor=moderator)
        result.conversations += report.conversations
        result.turns += report.turns
        result.reactions += report.reactions
        result.videos += report.videos
    with session_scope(url) as s:
        gone = hashes - set(s.scalars(select(Video.content_hash).where(Video.content_hash.in_(hashes))))
        audit.record(s, moderator, "delete_user_data", ",".join(f"user:{p}:{u}" for p, u in pairs) or "user:(none)",
                     requested=[f"{p or '*'}:{u}" for p, u in identities], conversation_ids=result.conversation_ids,
                     conversations=result.conversations, turns=result.turns, reactions=result.reactions,
                     videos=result.videos)
    remove_files([str(p) for h in gone for p in thumbnails.cached_files(settings, h)], settings)
    return result


class _NoJobs:
    """Deleting data never queues a job."""

    def submit(self, turn_id: int, job_id: str) -> None:  # pragma: no cover - never called
        raise AssertionError("no jobs are queued while deleting data")
