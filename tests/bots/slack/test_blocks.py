"""Block Kit that Slack accepts whatever the picks and the user's words contain."""

from __future__ import annotations

from bots.slack.blocks import MAX_BLOCKS, refine_text, turn_message
from core.conversation.service import PickView, TurnView


def _pick(rank: int, **kw) -> PickView:
    base = dict(pick_id=100 + rank, rank=rank, track_id=rank, title=f"Track {rank}", artist="Someone", album=None,
                score=0.5, match_percent=75, tags=["piano"], tempo_bpm=90.0, duration_s=61.0, instrumental=True,
                vocal_prob=0.1, licence="CC-BY-4.0", attribution="", path="", explanation="Gentle.",
                explanation_fallback=False)
    return PickView(**{**base, **kw})


def _turn(picks, **kw) -> TurnView:
    base = dict(turn_id=1, conversation_id=7, index=1, status="done", feedback="calmer", filters={},
                filters_applied=[], error=None, picks=picks, notes=[], timings={}, attempts=1, platform="slack",
                workspace_id="T1", channel_id="C1", thread_id="C1:1.0", user_id="U1", delivered=False)
    return TurnView(**{**base, **kw})


def test_many_picks_stay_within_slacks_block_limit():
    _, blocks = turn_message(_turn([_pick(r) for r in range(1, 26)], notes=["Filters applied: faster."]))
    assert len(blocks) <= MAX_BLOCKS
    assert sum(b["type"] == "section" for b in blocks) == 25  # every pick is shown
    assert blocks[-1]["elements"][0]["action_id"] == "refine_open"  # and Refine… is kept


def test_user_and_catalog_text_cannot_ping_or_link():
    nasty = "<!channel> look <https://evil.example|here> & <@U123>"
    text, blocks = turn_message(_turn([_pick(1, title=nasty, explanation=nasty)], feedback="x" * 400))
    section = blocks[1]["text"]["text"]
    assert "<!channel>" not in section and "&lt;!channel&gt;" in section and "&amp;" in section
    assert len(blocks[0]["text"]["text"]) <= 150  # header limit, long feedback shortened


def test_refine_text_joins_typed_words_and_ticked_choices():
    view = {"state": {"values": {"feedback": {"text": {"value": "  more piano "}},
                                 "quick": {"options": {"selected_options": [{"value": "slower"}]}}}}}
    assert refine_text(view) == "more piano, slower"
    assert refine_text({"state": {"values": {}}}) == ""
