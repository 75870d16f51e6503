"""Flag, unflag, delete a conversation, delete a user's data: what changes, what is kept,
what the audit log says."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from core.db.models import AuditLog, Conversation, Flag, Pick, PlatformEvent, Reaction, Turn, Video
from core.db.session import session_scope
from core.moderation import actions, thumbnails
from tests.moderation.seed import add_conversation, add_tracks


def _count(url, model, *where) -> int:
    with session_scope(url) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _audit(url) -> list[tuple[str, str, str]]:
    with session_scope(url) as s:
        return [(a.actor, a.action, a.target) for a in s.scalars(select(AuditLog).order_by(AuditLog.id))]


def test_flag_and_unflag_keep_history_and_do_not_count_as_activity(sqlite_db):
    add_tracks(sqlite_db)
    cid = add_conversation(sqlite_db)
    with session_scope(sqlite_db) as s:
        before = s.get(Conversation, cid).updated_at
    with pytest.raises(actions.BadRequest):
        actions.flag(cid, "mo", "   ", url=sqlite_db)
    actions.flag(cid, "mo", "insults\nin the feedback", url=sqlite_db)
    with session_scope(sqlite_db) as s:
        conv = s.get(Conversation, cid)
        assert conv.flagged and conv.updated_at == before  # the retention clock is not restarted
    actions.unflag(cid, "ada", "checked: fine", url=sqlite_db)
    with session_scope(sqlite_db) as s:
        assert not s.get(Conversation, cid).flagged
        assert [(f.reason, f.active) for f in s.scalars(select(Flag))] == [("insults in the feedback", False)]
        details = [a.details for a in s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert _audit(sqlite_db) == [("mo", "flag", f"conversation:{cid}"), ("ada", "unflag", f"conversation:{cid}")]
    assert details[1] == {"reason": "checked: fine", "flags_cleared": 1}
    with pytest.raises(actions.NotFound):
        actions.flag(999, "mo", "x", url=sqlite_db)


def test_delete_conversation_removes_rows_and_files_only_it_used(db, settings, tmp_path):
    add_tracks(db)
    media = settings.data_dir / "media"
    media.mkdir(parents=True, exist_ok=True)
    shared, own = media / "shared.mp4", media / "own.mp4"
    for f in (shared, own):
        f.write_bytes(b"video")
    features = media / "own.features"
    features.write_bytes(b"f")
    strip = thumbnails.strip_path(settings, "b" * 64)
    strip.parent.mkdir(parents=True)
    strip.write_bytes(b"jpeg")
    gone = add_conversation(db, video_path=str(own), video_hash="b" * 64, reactions=[("u2", "like")])
    with session_scope(db) as s:
        s.execute(update(Video).where(Video.content_hash == "b" * 64).values(features_path=str(features)))
        s.add(PlatformEvent(platform="discord", event_id="m1",
                            turn_id=s.scalar(select(Turn.id).where(Turn.conversation_id == gone).limit(1))))
    a = add_conversation(db, video_path=str(shared), video_hash="a" * 64)
    b = add_conversation(db, video_path=str(shared), video_hash="a" * 64)

    report = actions.delete_conversation(gone, "ada", settings, url=db)
    assert (report.conversations, report.turns, report.reactions, report.videos) == (1, 2, 1, 1)
    assert not own.exists() and not features.exists() and not strip.exists()
    assert _count(db, Conversation) == 2 and _count(db, Turn, Turn.conversation_id == gone) == 0
    assert _count(db, Reaction) == 0 and _count(db, PlatformEvent) == 0
    actions.delete_conversation(a, "ada", settings, url=db)
    assert shared.exists() and _count(db, Video) == 1  # still used by conversation b
    actions.delete_conversation(b, "ada", settings, url=db)
    assert not shared.exists() and _count(db, Video) == 0 and _count(db, Pick) == 0
    with pytest.raises(actions.NotFound):
        actions.delete_conversation(b, "ada", settings, url=db)
    assert [e[1] for e in _audit(db)] == ["delete_conversation"] * 3


def test_delete_user_data_on_every_platform(db, settings, tmp_path):
    add_tracks(db)
    (settings.data_dir / "media").mkdir(parents=True, exist_ok=True)
    video = settings.data_dir / "media" / "v.mp4"
    video.write_bytes(b"v")
    mine = [add_conversation(db, platform="discord", user_id="42", video_path=str(video), video_hash="c" * 64),
            add_conversation(db, platform="slack", user_id="42"),
            add_conversation(db, platform="slack", user_id="U7")]
    other = add_conversation(db, platform="discord", user_id="43", reactions=[("42", "dislike"), ("43", "like")])
    result = actions.delete_user_data(actions.parse_identities("42\nslack:U7"), "ada", settings, url=db)
    assert sorted(result.identities) == [("discord", "42"), ("slack", "42"), ("slack", "U7")]
    assert result.conversation_ids == sorted(mine) and result.conversations == 3 and result.videos == 1
    assert not video.exists()
    with session_scope(db) as s:
        assert list(s.scalars(select(Conversation.id))) == [other]
        # Their reaction in someone else's conversation is gone too; the other user's stays.
        assert [r.user_id for r in s.scalars(select(Reaction))] == ["43"]
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "delete_user_data")).one()
    assert entry.actor == "ada" and entry.details["conversation_ids"] == sorted(mine)
    assert {a for _, a, _ in _audit(db)} == {"forget_user", "delete_user_data"}


def test_identities_are_parsed_strictly():
    assert actions.parse_identities("discord:1, 2\n slack:U3 ") == [("discord", "1"), (None, "2"), ("slack", "U3")]
    for bad in ("", "a:b:c", "x" * 65, "Discord:1"):
        with pytest.raises(actions.BadRequest):
            actions.parse_identities(bad)


def test_the_audit_log_cannot_be_edited_or_deleted(db):
    add_tracks(db)
    actions.flag(add_conversation(db), "mo", "reason", url=db)
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            with session_scope(db) as s:
                s.execute(text(statement))
    assert _audit(db)[0][0] == "mo"
