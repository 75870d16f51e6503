"""Length wishes in feedback: "longer"/"shorter" relative to the heard pick, and the
clip's stated length. Every phrasing here was written by hand."""

from __future__ import annotations

import dataclasses

import pytest

from core.conversation.preferences import HeardPick, accumulate, parse_feedback
from core.data.synth import LENGTH_RATIO, TEMPO_MIN_BPM, TEMPO_RATIO
from core.engine import TrackFilter

HEARD = 200.0  # the length of the pick the turn refines (3:20)
HEARD_BPM = 120.0  # and its tempo
LONGER = TrackFilter(min_duration_s=HEARD * LENGTH_RATIO, longer_than_s=HEARD)
SHORTER = TrackFilter(max_duration_s=HEARD / LENGTH_RATIO, shorter_than_s=HEARD)


def after_heard(*messages: str) -> TrackFilter:
    """Filters after turn 0 (no message) and then ``messages``, each refining a 3:20, 120 bpm pick."""
    return accumulate([None, *messages], [None, *[HeardPick(HEARD, HEARD_BPM)] * len(messages)]).filters


@pytest.mark.parametrize("text, expected", [
    ("I need a longer piece", LONGER),
    ("something that lasts more", LONGER),
    ("longer please", LONGER),
    ("can you find a longer track?", LONGER),
    ("that one was too short", LONGER),
    ("make it longer", LONGER),
    ("not long enough, I need more", LONGER),
    ("Longer!!", LONGER),
    ("a bit longer and calmer", LONGER),
    ("something lengthier", LONGER),
    ("one that runs longer, with piano", LONGER),
    ("an extended version would be great", LONGER),
    ("too long, shorter please", SHORTER),
    ("shorter", SHORTER),
    ("a shorter song please", SHORTER),
    ("this drags on, something brief", SHORTER),
    ("less long please", SHORTER),
    ("way too long for my video", SHORTER),
    ("it's only a 15 second clip", TrackFilter(min_duration_s=15)),
    ("my reel is 30s", TrackFilter(min_duration_s=30)),
    ("it's a 20 second clip", TrackFilter(min_duration_s=20)),
    ("my video is 45 s long", TrackFilter(min_duration_s=45)),
    ("for a 1 minute reel", TrackFilter(min_duration_s=60)),
    ("the clip is about 1:30", TrackFilter(min_duration_s=90)),
    ("I'm making a 2-minute video", TrackFilter(min_duration_s=120)),
    ("it's for a thirty second ad, no vocals", TrackFilter(min_duration_s=30, instrumental_only=True)),
    ("my travel vlog runs 3 minutes", TrackFilter(min_duration_s=180)),
    # A length in numbers in the same message is more precise than "longer": it wins.
    ("longer, at least 4 minutes", TrackFilter(min_duration_s=240)),
])
def test_length_wishes_become_filters(text, expected):
    assert after_heard(text) == expected


@pytest.mark.parametrize("text", [
    "a longer intro would be nice",
    "the intro is too long",
    "the fade out is too long",
    "I'm no longer in the mood for drums",
    "can't wait any longer, just give me something upbeat",
    "shorter notes, more staccato",
    "a 20 second intro before the beat drops",
    "longer explanations please",
    "the song is 3 minutes long",
])
def test_words_about_something_else_set_no_length_filter(text):
    assert after_heard(text) == TrackFilter()


def test_without_a_heard_pick_length_words_only_reach_the_text():
    prefs = accumulate(["longer please"])  # a note sent with the video: nothing heard yet
    assert prefs.filters == TrackFilter() and prefs.text == "longer please"


def test_a_later_statement_replaces_the_earlier_one():
    # each turn's words are relative to that turn's pick
    prefs = accumulate([None, "longer please", "hmm, shorter"], [None, HeardPick(100.0, None), HeardPick(300.0, None)])
    assert prefs.filters == TrackFilter(max_duration_s=300 / LENGTH_RATIO, shorter_than_s=300.0)
    assert prefs.text == "hmm, shorter"  # "longer" left the preference text too
    # a length in numbers that contradicts "longer" drops it and its anchor
    assert after_heard("longer", "under 5 minutes") == TrackFilter(max_duration_s=300)
    assert after_heard("longer", "any length") == TrackFilter()
    assert after_heard("it's a 20 second clip", "longer") == LONGER
    assert after_heard("longer", "my reel is 30s") == TrackFilter(min_duration_s=30)


def test_a_length_wish_stays_anchored_on_its_own_turn():
    # "longer" at turn 1 stays "longer than turn 1's pick" while later turns refine other things.
    prefs = accumulate([None, "longer", "more piano"], [None, HeardPick(120.0, 90.0), HeardPick(400.0, 90.0)])
    assert prefs.filters == TrackFilter(min_duration_s=120 * LENGTH_RATIO, longer_than_s=120.0)
    assert prefs.text == "longer, more piano"


def test_length_words_keep_their_meaning_for_the_retriever():
    fb = parse_feedback("I need a longer piece, calmer")
    assert [c.text for c in fb.clauses] == ["I need a longer piece", "calmer"]
    assert "length" in fb.clauses[0].aspects
    assert parse_feedback("it's a 20 second clip, calmer").clauses[0].text == "calmer"


def test_the_reply_names_the_pick_a_bound_is_relative_to():
    assert LONGER.describe() == [f"longer than 3:20 (at least {int(HEARD * LENGTH_RATIO) // 60}:"
                                 f"{int(HEARD * LENGTH_RATIO) % 60:02d})"]
    assert SHORTER.describe()[0].startswith("shorter than 3:20 (under ")
    assert TrackFilter.from_dict(LONGER.to_dict()) == LONGER


FASTER = TrackFilter(bpm_min=max(HEARD_BPM * TEMPO_RATIO, HEARD_BPM + TEMPO_MIN_BPM),
                     faster_than_bpm=HEARD_BPM)
SLOWER = TrackFilter(bpm_max=min(HEARD_BPM / TEMPO_RATIO, HEARD_BPM - TEMPO_MIN_BPM),
                     slower_than_bpm=HEARD_BPM)


@pytest.mark.parametrize("text, expected", [
    ("faster please", FASTER),
    ("a bit quicker", FASTER),
    ("that was too slow", FASTER),
    ("speed it up", FASTER),
    ("more upbeat and faster, no vocals", dataclasses.replace(FASTER, instrumental_only=True)),
    ("slower", SLOWER),
    ("too fast for a sunset", SLOWER),
    ("slow it down a little", SLOWER),
    ("a lower tempo", SLOWER),
    ("fast", TrackFilter()),  # not a comparison: it only clears a bpm range
    ("faster notes in the melody", TrackFilter()),
    ("faster than 140 bpm", TrackFilter(bpm_min=140)),  # numbers are absolute
])
def test_tempo_wishes_are_relative_to_the_heard_pick(text, expected):
    assert after_heard(text) == expected


def test_a_tempo_wish_replaces_a_bpm_range_and_without_a_tempo_only_clears_it():
    assert after_heard("around 100 bpm", "faster") == FASTER
    assert after_heard("faster", "around 100 bpm") == TrackFilter(bpm_min=90, bpm_max=110)
    assert after_heard("faster", "slower") == SLOWER
    no_tempo = accumulate([None, "around 100 bpm", "faster"], [None, None, HeardPick(200.0, None)])
    assert no_tempo.filters == TrackFilter()
    assert FASTER.describe() == [f"faster than 120 bpm (above {FASTER.bpm_min:.0f} bpm)"]


def test_a_new_relative_length_wish_replaces_the_last_one_even_when_both_could_hold():
    from core.conversation.preferences import HeardPick, accumulate

    # Heard 6 s, "longer" (at least 10.8 s); then heard 21 s, "shorter" (at most 11.7 s).
    # Kept together they leave a 0.9 s window; the user is steering from the pick just heard.
    f = accumulate([None, "longer please", "too long, shorter please"],
                   [None, HeardPick(6.0, 100.0), HeardPick(21.0, 120.0)]).filters
    assert f.min_duration_s is None and f.longer_than_s is None
    assert f.shorter_than_s == 21.0 and f.max_duration_s < 21.0
    # A stated clip length is not relative to a pick: "longer" keeps it.
    g = accumulate(["it's a 20 second clip", "longer please"], [None, HeardPick(30.0, 100.0)]).filters
    assert g.longer_than_s == 30.0 and g.min_duration_s > 30.0
