"""Claim extraction and verification on hand-written explanations, and the guard acting on them."""

from __future__ import annotations

import pytest

from core.explainer.claims import summarise, verify
from core.explainer.guard import OutputGuard, fallback_sentence
from core.explainer.model import facts_block
from core.explainer.request import Wish, read_request
from core.video_facts import ContentLabel
from tests.explainer.conftest import make_track, make_video

# A slow, gentle, instrumental piano piece and a fast rock song with vocals.
CALM = make_track()  # "Elvish Theme" by Doug Kaufman: piano, ambient, strings; 72 BPM; instrumental; 3:00
ROCK = make_track(2, title="Battle Music", artist=None, tags=["rock", "guitar", "drums"], tempo_bpm=140.0,
                  instrumental=False, duration_s=200.0)
SLOW_DARK = make_video()  # slow-moving, dark, cool tones, mostly blue and black; no label
FAST_BRIGHT = make_video(motion=0.5, cuts_per_min=30.0, brightness=0.75, warmth=0.1, colours=["orange", "white"],
                         labels=[ContentLabel("road vehicles", 0.82)])
NO_LABEL = make_video(labels=[])
TITLES = ["Elvish Theme", "Battle Music", "Knolls"]

# (explanation, track, video facts, request, checks it must fail; () = every claim backed)
CASES = [
    # the video: what the old prompt's raw labels produced, and what the facts allow
    ("Footage of the hook and assault rifle calls for “Elvish Theme”.", CALM, NO_LABEL, None, ("video_claim",)),
    ("“Elvish Theme” is the right music for the albatross and sea lion.", CALM, NO_LABEL, None, ("video_claim",)),
    ("The joystick and carpenter's kit on screen suit “Battle Music”.", ROCK, FAST_BRIGHT, None, ("video_claim",)),
    ("“Battle Music” is fast-paced like your video.", ROCK, SLOW_DARK, None, ("video_claim",)),
    ("“Battle Music” is fast-paced like your video.", ROCK, FAST_BRIGHT, None, ()),
    ("“Elvish Theme” suits your dark, slow-moving clip, mostly blue and black.", CALM, SLOW_DARK, None, ()),
    ("“Elvish Theme” suits your bright, colourful clip.", CALM, SLOW_DARK, None, ("video_claim",)),
    ("“Elvish Theme” suits your dark clip.", CALM, None, None, ("video_claim",)),
    ("“Battle Music” fits the road vehicles in your video.", ROCK, FAST_BRIGHT, None, ()),
    ("“Battle Music” fits the sports cars racing through your video.", ROCK, FAST_BRIGHT, None, ("video_claim",)),
    ("“Elvish Theme” drifts over the snowy mountains of your clip.", CALM, SLOW_DARK, None, ("video_claim",)),
    ("“Battle Music” by Koji Kondo suits your video.", ROCK, FAST_BRIGHT, None, ("contradiction", "unsupported_name")),
    ("“Elvish Theme” was recorded in 1998 and suits your video.", CALM, SLOW_DARK, None, ("unsupported_number",)),
    ("“Elvish Theme” runs 3:00, long enough for your video.", CALM, SLOW_DARK, None, ()),
    ("“Elvish Theme” runs 7:30, long enough for your video.", CALM, SLOW_DARK, None, ("contradiction",)),
    ("“Elvish Theme” sounds like something from Tokyo, perfect for your clip.", CALM, SLOW_DARK, None,
     ("unsupported_name",)),
    # the request
    ("“Elvish Theme” is slow, as you asked for something calmer.", CALM, SLOW_DARK, "faster please",
     ("request_claim", "contradicts_request")),
    ("“Elvish Theme” is slow and gentle, just as you asked.", CALM, SLOW_DARK, "calmer please, something soothing",
     ()),
    ("“Battle Music” brings an upbeat rhythm around 140 BPM.", ROCK, FAST_BRIGHT,
     "calmer please, something soothing", ("contradicts_request",)),
    ("“Battle Music” has the fast pace you asked for.", ROCK, FAST_BRIGHT, "calmer, no vocals",
     ("request_claim", "contradicts_request")),
    ("“Battle Music” has the vocals you asked for.", ROCK, FAST_BRIGHT, "calmer, no vocals",
     ("request_claim", "contradicts_request")),
    ("It is instrumental, as you asked.", CALM, SLOW_DARK, "no vocals please", ()),
    ("It is instrumental, as you asked.", CALM, SLOW_DARK, "plus calme, sans voix", ("request_claim",)),
    ("It has the piano you wanted.", CALM, SLOW_DARK, "more guitar", ("request_claim",)),
    ("It has the piano you wanted.", CALM, SLOW_DARK, "could use more piano", ()),
    ("This is exactly what you asked for.", CALM, SLOW_DARK, None, ("request_claim",)),
    ("This is exactly what you asked for.", CALM, SLOW_DARK, "softer please, no singing", ()),
    ("The drums drive “Battle Music” along.", ROCK, FAST_BRIGHT, "less drums", ("contradicts_request",)),
    ("It is instrumental, which you asked for, and slow.", ROCK, FAST_BRIGHT, "i want it instrumental",
     ("contradiction", "request_claim")),
]


@pytest.mark.parametrize("text, track, video, wish, failed", CASES, ids=[c[0][:50] for c in CASES])
def test_every_claim_is_checked_against_the_facts(text, track, video, wish, failed):
    report = verify(text, track, video, wish)
    assert tuple(sorted(report.failed_checks())) == tuple(sorted(failed)), [
        (c.kind, c.text, c.supported) for c in report.claims]
    assert (not report.unsupported and not report.contradictions) == (not failed)


@pytest.mark.parametrize("text, track, video, wish, failed", CASES, ids=[c[0][:50] for c in CASES])
def test_the_guard_shows_only_backed_text(text, track, video, wish, failed):
    guard = OutputGuard(TITLES)
    out = guard.apply(text, track, video, wish)
    if not failed:
        assert not out.fallback and out.text == text
        return
    assert out.fallback and set(failed) <= set(out.failed_checks)
    assert out.text == fallback_sentence(track, video, wish)
    assert guard.check(out.text, track, video, wish) == []  # the fallback is backed and agrees


def test_the_fallback_leaves_out_what_goes_against_the_request():
    text = fallback_sentence(ROCK, FAST_BRIGHT, "calmer, no vocals")
    assert "fast" not in text.split("—")[0] and "vocals" not in text and "rock" in text
    assert fallback_sentence(ROCK, FAST_BRIGHT).count("fast") >= 1  # said when nothing asks otherwise
    assert "(" not in fallback_sentence(CALM, None)  # no video facts: nothing said about the video


def test_four_figures_over_a_set():
    reports = [verify(t, tr, v, r) for t, tr, v, r, _ in CASES]
    figures = summarise(reports)
    assert figures.explanations == len(CASES) and figures.claims > len(CASES)
    assert figures.with_unsupported == pytest.approx(
        sum(bool(f) and not (set(f) == {"contradicts_request"}) for *_, f in CASES) / len(CASES))
    assert figures.contradictions == sum(len(r.contradictions) for r in reports) >= 5
    assert figures.unknown_names == 2  # Koji Kondo, Tokyo
    assert 0 < figures.supported_rate < 1


@pytest.mark.parametrize("words, wishes", [
    ("calmer please, something soothing", {Wish("pace", "slow")}),
    ("calmer, no vocals", {Wish("pace", "slow"), Wish("vocals", "instrumental")}),
    ("faster please", {Wish("pace", "fast")}),
    ("this is way too slow for a skate clip", {Wish("pace", "fast")}),
    ("a bit less energetic maybe", {Wish("pace", "slow")}),
    ("keep the tempo steady, nothing too fast", {Wish("pace", "moderate")}),
    ("less drums", {Wish("style", "drums", wanted=False)}),
    ("I need vocals on this one", {Wish("vocals", "vocals")}),
    ("go for something happier", {Wish("mood", "happy")}),
    ("plus calme, sans voix", set()),
    ("try again", set()),
])
def test_the_request_is_what_the_words_ask(words, wishes):
    assert set(read_request(words).wishes) == wishes


def test_the_prompt_carries_measured_facts_never_labels():
    raw_labels = ["hook", "assault rifle", "albatross"]
    block = facts_block(CALM, FAST_BRIGHT, "faster please", ["fast"])
    assert "Video: fast-paced, frequent cuts, bright, warm tones, mostly orange and white" in block
    assert "road vehicles" in block  # a confident label, stated as such
    assert not any(label in block for label in raw_labels)
    no_video = facts_block(CALM, None, None)
    assert "Video" not in no_video and "Has what was asked" not in no_video


def test_the_fallback_passes_every_check_for_any_facts_and_request():
    """What the guard shows instead is itself backed and agrees with any request, so the
    shown text meets the targets whatever the LM writes."""
    import random

    from core.explainer.outside import phrasings
    from core.explainer.references import sample_video_facts
    from tests.explainer.conftest import random_track

    rng = random.Random(5)
    guard = OutputGuard(TITLES)
    for i in range(300):
        track, video = random_track(rng, i), sample_video_facts(rng)
        wish = rng.choice([None, *phrasings()])
        text = fallback_sentence(track, video, wish)
        assert guard.check(text, track, video, wish) == [], (text, wish)
        report = verify(text, track, video, wish)
        assert not report.unsupported and not report.contradictions, (text, wish)
