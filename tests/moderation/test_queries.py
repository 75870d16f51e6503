"""The conversation list: every filter, the counts, pages, and the detail data."""

from __future__ import annotations

from datetime import date, timedelta

from core.db.session import session_scope
from core.moderation.queries import ConversationFilter, conversation_detail, list_conversations
from tests.moderation.seed import NOW, add_conversation, add_tracks


def _ids(url, page=1, page_size=50, **filters) -> list[int]:
    flt = ConversationFilter.from_params({k: str(v) for k, v in filters.items()})
    with session_scope(url) as s:
        return [r.id for r in list_conversations(s, flt, page=page, page_size=page_size).rows]


def _counts(url, **filters):
    with session_scope(url) as s:
        return list_conversations(s, ConversationFilter.from_params(filters)).counts


def test_filters_combine_and_counts_follow_them(db):
    add_tracks(db)
    day = timedelta(days=1)
    a = add_conversation(db, platform="discord", workspace_id="G1", channel_id="C1", user_id="111",
                         user_name="Ana", feedback=[None, "More UPBEAT please, no vocals"], created_at=NOW - 5 * day)
    b = add_conversation(db, platform="discord", workspace_id="G2", channel_id="C2", user_id="222",
                         feedback=[None, "calmer"], failed=True, created_at=NOW - 3 * day)
    c = add_conversation(db, platform="slack", workspace_id="T1", channel_id="C9", user_id="U333",
                         feedback=["piano at 100% volume", "drop_the_beat"], flagged_reason="spam",
                         created_at=NOW - day)
    d = add_conversation(db, platform="web", workspace_id=None, channel_id=None, user_id="ana-web",
                         user_name="ana", feedback=[None], created_at=NOW)

    assert _ids(db) == [d, c, b, a]  # newest first
    assert _ids(db, platform="discord") == [b, a]
    assert _ids(db, workspace="T1") == [c]
    assert _ids(db, channel="C2") == [b]
    assert _ids(db, user="111") == [a]
    assert _ids(db, user="ANA") == [d, a]  # a display name matches case-insensitively
    assert _ids(db, since=(NOW - 4 * day).date().isoformat()) == [d, c, b]
    assert _ids(db, until=(NOW - 3 * day).date().isoformat()) == [b, a]  # the end day is included
    assert _ids(db, failed=1) == [b]
    assert _ids(db, flagged=1) == [c]
    assert _ids(db, q="upbeat") == [a]  # case-insensitive substring of any turn's feedback
    assert _ids(db, q="no upbeat") == [a] and _ids(db, q="upbeat calmer") == []  # every word must match
    assert _ids(db, q="100%") == [c] and _ids(db, q="%") == [c]  # LIKE wildcards are literal
    assert _ids(db, q="drop_the") == [c] and _ids(db, q="d_o") == []  # "_" is not "any character"
    assert _ids(db, q="' OR 1=1 --") == []
    assert _ids(db, platform="discord", failed=1, q="calm") == [b]

    counts = _counts(db)
    assert (counts.total, counts.flagged, counts.failed) == (4, 1, 1)
    assert counts.platforms == {"discord": 2, "slack": 1, "web": 1}
    counts = _counts(db, platform="discord")
    # The platform facet ignores the platform filter, so the other platforms stay visible.
    assert (counts.total, counts.flagged, counts.failed) == (2, 0, 1)
    assert counts.platforms == {"discord": 2, "slack": 1, "web": 1}


def test_pages_and_unreadable_filters(db):
    add_tracks(db)
    ids = [add_conversation(db, feedback=[None], created_at=NOW + timedelta(minutes=i)) for i in range(5)]
    assert _ids(db, page_size=2) == ids[::-1][:2]
    assert _ids(db, page=3, page_size=2) == [ids[0]]
    assert _ids(db, page=99, page_size=2) == [ids[0]]  # past the end: the last page
    flt = ConversationFilter.from_params({"since": "yesterday", "until": "2026-02-30", "failed": "on", "q": " x "})
    assert flt.since is None and flt.until is None and len(flt.errors) == 2
    assert flt.to_params() == {"failed": "1", "q": "x"}
    assert ConversationFilter.from_params({"since": "2026-01-02"}).since == date(2026, 1, 2)


def test_detail_has_every_turn_with_picks_reactions_and_errors(sqlite_db):
    tracks = add_tracks(sqlite_db)
    cid = add_conversation(sqlite_db, feedback=["for my skate video", "faster"], failed=True, track_ids=tracks,
                           reactions=[("u9", "like")], flagged_reason="rude words")
    with session_scope(sqlite_db) as s:
        c = conversation_detail(s, cid)
        assert conversation_detail(s, 10_000) is None
    assert [t.feedback for t in c.turns] == ["for my skate video", "faster"]
    first, second = c.turns
    assert first.status == "done" and len(first.picks) == 3 and second.status == "failed" and second.error
    top = first.picks[0]
    assert (top.title, top.artist, top.rank) == ("Track 0", "Artist 0", 1)
    assert top.explanation and "piano" in top.tags and 0 <= top.match_percent <= 100
    assert [(r.user_id, r.kind) for r in top.reactions] == [("u9", "like")]
    assert first.timings["explain"] == 0.5
    assert c.flagged and c.flags[0].reason == "rude words"
