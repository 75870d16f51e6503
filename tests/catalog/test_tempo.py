"""Tempo reconciliation: one tempo per track, a feel word that agrees with it, and no
display that shows the tagger's "slow"/"fast" beside a tempo that says otherwise."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from core.catalog.analysis import measure_rhythm, top_tags, track_tags
from core.catalog.tempo import TEMPO_TAGS, reconcile_tempo, tempo_feel
from core.db.models import Track

SR = 16000  # the music encoders' rate, which ingestion analyses tempo at


def mtt(**probs: float) -> dict[str, dict[str, float]]:
    return {"mtt": {k.replace("_", " "): v for k, v in probs.items()}}


# --- the rule, on hand-written evidence ---------------------------------------------------

def test_slow_tagger_halves_a_double_time_estimate():
    d = reconcile_tempo(132.0, mtt(slow=0.45, fast=0.05, piano=0.6), onset_rate=2.0)
    assert (d.tempo_bpm, d.feel, d.factor) == (66.0, "slow", 0.5)
    assert "slow" in d.reason and d.basis()["raw_bpm"] == 132.0


def test_fast_tagger_doubles_a_half_time_estimate_only_with_onsets_to_carry_it():
    busy = reconcile_tempo(72.0, {"msd": {"dance": 0.5, "chill": 0.05}}, onset_rate=3.0)
    assert (busy.tempo_bpm, busy.feel) == (144.0, "fast")
    sparse = reconcile_tempo(72.0, {"msd": {"dance": 0.5, "chill": 0.05}}, onset_rate=0.6)
    assert (sparse.tempo_bpm, sparse.feel) == (72.0, "slow")


def test_dense_onsets_veto_halving():
    # 10 onsets a second would be 9 per beat at 66 bpm: a busy track the tagger misheard
    d = reconcile_tempo(132.0, mtt(slow=0.45, fast=0.05), onset_rate=10.0)
    assert (d.tempo_bpm, d.feel) == (132.0, "fast")


def test_weak_alternate_beats_halve_without_any_tag():
    d = reconcile_tempo(140.0, {}, onset_rate=2.3, weak_beat_ratio=0.4)
    assert d.tempo_bpm == 70.0 and "subdivisions" in d.reason


def test_weak_beats_halve_only_a_fast_reading_whatever_style_the_tagger_hears():
    # the real tagger calls a generated 70 bpm kick + hi-hat loop "techno" (0.56)
    assert reconcile_tempo(138.9, mtt(techno=0.56, beat=0.37), onset_rate=2.3, weak_beat_ratio=0.44).tempo_bpm == 69.5
    assert reconcile_tempo(107.0, {}, onset_rate=2.0, weak_beat_ratio=0.4).tempo_bpm == 107.0


def test_sparse_onsets_halve_a_fast_reading():
    d = reconcile_tempo(150.0, {}, onset_rate=0.5)  # one onset every five beats at 150
    assert d.tempo_bpm == 75.0 and d.feel == "slow"


def test_undecided_tagger_keeps_the_estimate():
    d = reconcile_tempo(128.0, mtt(slow=0.3, fast=0.2), onset_rate=4.0, weak_beat_ratio=0.9)
    assert (d.tempo_bpm, d.factor) == (128.0, 1.0)


def test_no_pulse_means_no_tempo_and_no_feel():
    d = reconcile_tempo(None, mtt(slow=0.9), onset_rate=0.1)
    assert d.tempo_bpm is None and d.feel is None


def test_out_of_range_estimates_fold_in():
    assert reconcile_tempo(300.0, {}, onset_rate=5.0).tempo_bpm == 150.0
    assert reconcile_tempo(30.0, {}, onset_rate=1.0).tempo_bpm == 60.0


def test_feel_agrees_with_tempo_for_every_combination():
    grid = itertools.product([None, 35.0, 66.0, 89.9, 90.0, 119.9, 120.0, 180.0, 260.0],
                             [{}, mtt(slow=0.6), mtt(fast=0.6), {"msd": {"ambient": 0.4, "party": 0.3}}],
                             [None, 0.2, 1.5, 6.0, 12.0], [None, 0.3, 1.0])
    for raw, tags, rate, weak in grid:
        d = reconcile_tempo(raw, tags, rate, weak)
        assert d.feel == tempo_feel(d.tempo_bpm)
        if d.tempo_bpm is not None:
            assert 40.0 <= d.tempo_bpm <= 220.0 and d.factor in (0.25, 0.5, 1.0, 2.0, 4.0)
            assert d.tempo_bpm == pytest.approx(raw * d.factor, abs=0.05)


# --- the audio: clicks and drum patterns written by hand ------------------------------------

def _hit(kind: str, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.12 * SR)) / SR
    if kind == "kick":  # a pitch-dropping sine
        return np.sin(2 * np.pi * (60 + 90 * np.exp(-t * 30)) * t) * np.exp(-t * 25)
    if kind == "hat":  # a short noise burst, a third of the kick's level
        return rng.uniform(-1, 1, len(t)) * np.exp(-t * 80) * 0.35
    n = 400  # click: 25 ms of 1 kHz
    return np.sin(2 * np.pi * 1000 * np.arange(n) / SR) * np.hanning(n)


def drum_loop(bpm: float, bar: list[tuple[str, float]], seconds: float = 30.0) -> np.ndarray:
    """[seconds·SR] float32: ``bar`` = (instrument, position in beats) in a 4-beat bar, looped."""
    rng = np.random.default_rng(int(bpm))
    y = np.zeros(int((seconds + 3) * SR))
    beat = 60.0 / bpm
    for b in range(int(seconds / (4 * beat)) + 1):
        for kind, pos in bar:
            start = int((b * 4 + pos) * beat * SR)
            h = _hit(kind, rng)
            y[start:start + len(h)] += h
    y = y[: int(seconds * SR)]
    return (0.8 * y / np.abs(y).max()).astype(np.float32)


CLICKS = [("click", float(i)) for i in range(4)]
# kick on every beat, hi-hat on every off-beat: twice as many onsets as beats, which beat
# trackers read as double time at slow tempi
KICK_AND_OFFBEAT_HATS = [("kick", float(i)) for i in range(4)] + [("hat", i + 0.5) for i in range(4)]


@pytest.mark.parametrize("bpm", [70, 90, 120, 150])
@pytest.mark.parametrize("bar", [CLICKS, KICK_AND_OFFBEAT_HATS], ids=["clicks", "kick+offbeat hats"])
def test_reconciled_tempo_of_generated_loops_is_within_4_percent(bpm, bar):
    rhythm = measure_rhythm(drum_loop(bpm, bar), SR)
    decision = reconcile_tempo(rhythm.tempo_bpm, {}, rhythm.onset_rate, rhythm.weak_beat_ratio)
    assert abs(decision.tempo_bpm - bpm) / bpm < 0.04, (rhythm, decision.reason)
    assert decision.feel == tempo_feel(bpm) or abs(bpm - 90) < 4 or abs(bpm - 120) < 5


def test_the_double_time_temptation_is_real():
    """The loop that needs reconciling: the beat tracker alone reads 70 bpm as about 140."""
    rhythm = measure_rhythm(drum_loop(70, KICK_AND_OFFBEAT_HATS), SR)
    assert abs(rhythm.tempo_bpm - 140) / 140 < 0.04
    assert rhythm.onset_rate == pytest.approx(70 * 2 / 60, rel=0.1)


def test_silence_has_no_rhythm():
    assert measure_rhythm(np.zeros(SR * 10, np.float32), SR).tempo_bpm is None


# --- what is shown --------------------------------------------------------------------------

def test_top_tags_never_show_the_taggers_tempo_words():
    tags = {"mtt": {"slow": 0.9, "fast": 0.4, "piano": 0.5, "ambient": 0.3},
            "msd": {"instrumental": 0.6}}
    assert top_tags(tags) == ["instrumental", "piano", "ambient"]
    assert top_tags(tags, feel="fast") == ["fast", "instrumental", "piano", "ambient"]
    assert top_tags(tags, k=2, feel="moderate") == ["moderate", "instrumental"]


def test_a_tracks_shown_tags_agree_with_its_tempo_whatever_the_tagger_said():
    for raw, slow, fast in itertools.product([60.0, 100.0, 132.0, 160.0], [0.0, 0.5, 0.9], [0.0, 0.5, 0.9]):
        tags = mtt(slow=slow, fast=fast, guitar=0.3)
        d = reconcile_tempo(raw, tags, onset_rate=3.0)
        track = Track(tags=tags, tempo_bpm=d.tempo_bpm, tempo_feel=d.feel)
        shown = track_tags(track)
        assert [t for t in shown if t in TEMPO_TAGS | {"moderate"}] == [tempo_feel(track.tempo_bpm)]
