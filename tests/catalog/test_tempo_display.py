"""Every front end shows a track's feel word and never the tagger's "slow"/"fast" when
they disagree with the reconciled tempo: Discord, Slack, the console and the CLI."""

from __future__ import annotations

import re

import pytest

from bots.discord.picks import picks_embed
from bots.slack.blocks import turn_message
from core.catalog.service import track_summary
from core.catalog.tempo import reconcile_tempo
from core.config import get_settings
from core.conversation.service import ConversationService
from core.db import migrate
from core.db.models import Track, Turn
from core.db.session import session_scope
from core.moderation.queries import conversation_detail
from tests.moderation.seed import add_conversation

TEMPO_WORD = re.compile(r"\b(slow|moderate|fast)\b", re.IGNORECASE)

# Taggers that contradict the beat: the onsets keep each tempo where the tracker put it.
CLASHING = [
    ("Busy Ballad", {"mtt": {"slow": 0.9, "piano": 0.6, "fast": 0.05}}, 132.0, 10.0),  # stays 132, fast
    ("Sparse Techno", {"mtt": {"fast": 0.8, "techno": 0.5, "slow": 0.1}}, 70.0, 0.5),  # stays 70, slow
]


@pytest.fixture
def url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'shown.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture
def tracks(url) -> dict[int, str]:
    """{track id: its feel word}"""
    out = {}
    with session_scope(url) as s:
        for i, (title, tags, raw, onsets) in enumerate(CLASHING):
            d = reconcile_tempo(raw, tags, onsets)
            t = Track(content_hash=f"{i:064x}", path=f"/music/{i}.ogg", title=title, duration_s=95.0,
                      licence="CC0-1.0", tags=tags, tempo_raw_bpm=raw, onset_rate=onsets, tempo_bpm=d.tempo_bpm,
                      tempo_feel=d.feel, tempo_basis=d.basis(), vocal_prob=0.1)
            s.add(t)
            s.flush()
            out[t.id] = d.feel
    assert sorted(out.values()) == ["fast", "slow"]
    return out


def feel_words(text: str) -> set[str]:
    return {w.lower() for w in TEMPO_WORD.findall(text)}


def test_no_front_end_shows_a_tempo_word_that_disagrees(url, tracks):
    conv = add_conversation(url, feedback=[None], track_ids=list(tracks))
    with session_scope(url) as s:
        turn_id = s.query(Turn.id).filter(Turn.conversation_id == conv).scalar()
    view = ConversationService(get_settings(), database_url=url).get_turn(turn_id)
    by_id = {p.track_id: p for p in view.picks}

    for track_id, feel in tracks.items():
        pick = by_id[track_id]
        assert pick.tags[0] == feel and feel_words(" ".join(pick.tags)) == {feel}

    embed = picks_embed(view)
    for track_id, feel in tracks.items():
        field = next(f for f in embed.fields if by_id[track_id].title in f.name)
        assert feel_words(field.value.split("\n> ")[0]) == {feel}, field.value  # the facts, not the "why"

    _, blocks = turn_message(view)
    for track_id, feel in tracks.items():
        line = next(b["text"]["text"] for b in blocks
                    if b.get("type") == "section" and by_id[track_id].title in b.get("text", {}).get("text", ""))
        assert feel_words(line) == {feel}, line

    with session_scope(url) as s:
        detail = conversation_detail(s, conv)
        for p in detail.turns[0].picks:
            assert feel_words(" ".join(p.tags)) == {tracks[p.track_id]}
        for track_id, feel in tracks.items():
            assert feel_words(" ".join(track_summary(s.get(Track, track_id))["tags"])) == {feel}
