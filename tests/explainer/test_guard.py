"""The output guard: every check can trigger the factual fallback, and honest text passes."""

from __future__ import annotations

import random

import pytest

from core.explainer.claims import verify
from core.explainer.guard import OutputGuard, fallback_sentence
from core.explainer.references import TEST_TEMPLATES, TRAIN_TEMPLATES, reference, sample_video_facts, synth_preference
from tests.explainer.conftest import make_track, make_video, random_track

TITLES = ["Elvish Theme", "Battle Music", "Knolls", "Heroes Rite", "Into the Deep"]
LABELS = make_video()  # slow-moving, dark, cool tones, mostly blue and black
GOOD = ("“Elvish Theme” by Doug Kaufman is a slow, gentle ambient piece with piano and no vocals, "
        "which suits your slow-moving, dark video.")


@pytest.fixture
def guard() -> OutputGuard:
    return OutputGuard(TITLES)


def test_honest_explanation_passes_untouched(guard):
    out = guard.apply(GOOD, make_track(), LABELS)
    assert not out.fallback and out.text == GOOD


@pytest.mark.parametrize("text, check", [
    ("Slow piano.", "too_short"),
    ("“Elvish Theme” is slow ambient piano. " * 20, "too_long"),
    ("“Elvish Theme” is slow piano, much like Battle Music from the same game.", "other_title"),
    ("This slow piano piece works, but Knolls would be better here.", "other_title"),
    ("“Elvish Theme” is slow piano; hear it at https://example.org/elvish now.", "url"),
    ("“Elvish Theme” is slow piano; find more at www.example.com today.", "url"),
    ("“Elvish Theme” is slow piano, perfect for @everyone watching your dark clip.", "mention"),
    ("“Elvish Theme” is slow piano, ask <@123456789> about your dark clip.", "mention"),
    ("“Elvish Theme” is slow piano, see [the album](http://x.y) for your dark clip.", "markdown_link"),
    ("“Elvish Theme” is slow fucking piano music for your dark video.", "profanity"),
    ("“Elvish Theme” features a soaring female singer over slow ambient piano.", "contradiction"),
    ("“Elvish Theme” is a fast, upbeat ambient piano piece for your dark clip.", "contradiction"),
    ("“Elvish Theme” is a heavy metal anthem that suits your dark video.", "contradiction"),
    ("“Elvish Theme” brings slow ambient saxophone lines to your dark video.", "contradiction"),
    ("“Elvish Theme” is slow ambient piano at 140 BPM for your dark video.", "contradiction"),
    ("“Elvish Theme” by Koji Kondo is slow ambient piano for your dark video.", "contradiction"),
    ("As my system prompt says, “Elvish Theme” is slow ambient piano for your dark clip.", "prompt_leak"),
    ("USER: ignore that. ASSISTANT: “Elvish Theme” is slow ambient piano for your dark clip.", "prompt_leak"),
    ("“Elvish Theme” is slow \ufffd\ufffd ambient piano \x07 for your dark video.", "garbled"),
    ("“Elvish Theme” is slow piano and slow piano and slow piano and slow piano for you.", "repetitive"),
    ("“Elvish Theme” is a slow ambient piano piece that suits your dark video and", "unfinished"),
])
def test_each_check_triggers_the_fallback(guard, text, check):
    track = make_track()
    out = guard.apply(text, track, LABELS)
    assert out.fallback
    assert check in out.failed_checks
    assert out.text == fallback_sentence(track, LABELS)
    assert guard.check(out.text, track, LABELS) == []  # the fallback itself is clean


def test_vocals_claims_follow_the_vocals_fact(guard):
    sung = make_track(instrumental=False)
    assert guard.check("“Elvish Theme” is slow ambient piano with a gentle female vocal for your dark clip.", sung, LABELS) == []
    assert "contradiction" in guard.check("“Elvish Theme” is a slow instrumental for your dark video.", sung, LABELS)
    unknown = make_track(instrumental=None)
    assert "contradiction" in guard.check("“Elvish Theme” is slow piano without vocals for your dark clip.", unknown, LABELS)


def test_negations_and_the_video_are_not_claims_about_the_music(guard):
    track = make_track()
    # "not fast" is true of 72 BPM; "no drums" is true of a track without a drums tag;
    # the grand piano is in the video (a label), not a claim about the track.
    text = "“Elvish Theme” is not fast, has no drums, and its calm mood suits the grand piano on screen."
    assert guard.check(text, track, LABELS) == []
    assert "contradiction" in guard.check("“Elvish Theme” is not slow at all; a lively piece for your dark clip.", track, LABELS)


def test_a_known_tempo_decides_tempo_words_tags_only_when_it_is_unknown(guard):
    text = "“Elvish Theme” is a calm, soft ambient piece for your dark video."
    # The catalog's tempo is already reconciled with the tags, and displays show its feel
    # ("fast" at 150 bpm): calling that track calm would contradict what the user sees.
    assert "contradiction" in guard.check(text, make_track(tags=["ambient", "soft"], tempo_bpm=150.0), LABELS)
    assert guard.check(text, make_track(tags=["ambient", "soft"], tempo_bpm=75.0), LABELS) == []
    assert guard.check(text, make_track(tags=["ambient", "soft"], tempo_bpm=None), LABELS) == []


def test_single_word_titles_match_only_as_names(guard):
    track = make_track(tags=["ambient", "piano"])
    # "knolls" as an ordinary word is not the track "Knolls"; the capitalised name is.
    assert guard.check("“Elvish Theme” is slow ambient piano for grassy knolls in your dark clip.", track, LABELS) == []
    assert "other_title" in guard.check("“Elvish Theme” is slow ambient piano, unlike Knolls, for your dark clip.", track, LABELS)


def test_titles_are_matched_as_written_not_as_prose():
    guard = OutputGuard(["Main Theme", "Sad", "Rock", "Elvish Theme"])
    track = make_track(tags=["ambient", "piano", "sad"])
    for text in ("“Elvish Theme” carries the main theme of your dark video with slow piano.",
                 "Sad and slow, “Elvish Theme” is ambient piano for your dark video."):
        assert guard.check(text, track, LABELS) == [], text
    for text in ("“Elvish Theme” is slow piano; Main Theme would also suit your dark clip.",
                 "Slow piano, like “Sad”, suits your dark video."):
        assert "other_title" in guard.check(text, track, LABELS), text


def test_own_title_may_contain_checked_words():
    guard = OutputGuard(["Battle Music", "Rock Anthem", "Elvish Theme"])
    track = make_track(title="Rock Anthem", tags=["piano"])  # "rock" inside the title is no genre claim
    assert guard.check("“Rock Anthem” by Doug Kaufman is slow piano for your dark video.", track, LABELS) == []


def test_fallback_is_factual_for_any_facts():
    rng = random.Random(3)
    guard = OutputGuard(TITLES)
    for i in range(300):
        track = random_track(rng, i)
        video = sample_video_facts(rng)
        text = fallback_sentence(track, video)
        assert guard.check(text, track, video) == [], text
        assert all(c.supported for c in verify(text, track, video).claims), text


def test_references_say_only_what_the_facts_say():
    """The training data itself passes the guard, so the model learns faithful text."""
    rng = random.Random(4)
    guard = OutputGuard(TITLES)
    for i in range(600):
        track = random_track(rng, i)
        video = sample_video_facts(rng)
        pref = synth_preference(track, rng, rng.choice(["train", "test"]))
        text = reference(track, video, pref, rng, rng.choice(TRAIN_TEMPLATES + TEST_TEMPLATES))
        assert guard.check(text, track, video, pref.text if pref else None) == [], text


def test_test_phrasings_are_held_out():
    assert not set(TRAIN_TEMPLATES) & set(TEST_TEMPLATES)
