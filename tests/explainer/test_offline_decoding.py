"""The real SmolLM2 with the shipped adapter writes the same tokens with the fast decoder
(shared system prompt prefilled once, batch padded to 4 rows on CPU) as with
``transformers``' generate, for hand-written picks, requests and videos."""

from __future__ import annotations

import pytest
import torch
from transformers import GenerationConfig

from core.explainer.fastdecode import FastDecoder
from tests.explainer.conftest import make_context, make_track, make_video
from tests.explainer.test_offline import offline_data_dir, offline_explainer, offline_settings  # noqa: F401

pytestmark = pytest.mark.slow

# Three turns as users would have them: 3 picks, 3 picks, 5 picks; each turn one request.
TURNS = [
    (None, [
        (make_track(11, title="Snowfall", artist="Alex Smith", tags=["piano", "soft", "ambient"], tempo_bpm=70.0),
         make_video(motion=0.02, cuts_per_min=0.0, brightness=0.8, warmth=-0.3, colours=["white", "blue"])),
        (make_track(12, title="Overdrive", artist="Jeroen van Ooij", tags=["rock", "guitar", "drums"],
                    tempo_bpm=150.0, instrumental=False),
         make_video(motion=0.5, cuts_per_min=40.0, brightness=0.5, warmth=0.4, colours=["red", "black"])),
        (make_track(13, title="Market Day", artist=None, tags=["folk", "flute"], tempo_bpm=104.0), None),
    ]),
    ("calmer please, something soothing without singing", [
        (make_track(21, title="Lullaby for the Deep", artist="Mia Kovač", tags=["strings", "slow", "classical"],
                    tempo_bpm=62.0), make_video(motion=0.1, cuts_per_min=2.0, brightness=0.2, colours=["blue"])),
        (make_track(22, title="Harbour Lights", artist="Doug Kaufman", tags=["synth", "electronic"], tempo_bpm=96.0),
         make_video(motion=0.1, cuts_per_min=2.0, brightness=0.2, colours=["blue"])),
        (make_track(23, title="Frantic", artist="Stephen Rozanc", tags=["drums", "electronic", "rock"],
                    tempo_bpm=138.0, instrumental=False),
         make_video(motion=0.1, cuts_per_min=2.0, brightness=0.2, colours=["blue"])),
    ]),
    ("more drums and energy, it's a skate clip", [
        (make_track(30 + i, title=title, artist=artist, tags=tags, tempo_bpm=bpm, instrumental=inst),
         make_video(motion=0.45, cuts_per_min=25.0, brightness=0.6, warmth=0.2, colours=["grey", "orange"]))
        for i, (title, artist, tags, bpm, inst) in enumerate([
            ("Street Pulse", "Kai Engel", ["techno", "drums", "electronic"], 128.0, True),
            ("Old Road", None, ["guitar", "folk"], 88.0, False),
            ("Battle Music", "Aleksi Aubry-Carlson", ["metal", "drums", "guitar"], 170.0, True),
            ("Glass Rain", "Doug Kaufman", ["piano", "sad"], 74.0, True),
            ("Neon Run", "Jeroen van Ooij", ["synth", "dance", "electronic"], 124.0, None),
        ])]),
]


def contexts(turn: int, dim: int):
    preference, picks = TURNS[turn]
    return [make_context(track, preference, video, seed=100 * turn + i, dim=dim)
            for i, (track, video) in enumerate(picks)]


@pytest.mark.parametrize("turn", range(len(TURNS)))
def test_fast_decoder_writes_generates_tokens(offline_explainer, turn):
    ex = offline_explainer
    assert isinstance(ex.decoder, FastDecoder)  # the CPU default
    ctx = contexts(turn, ex.projection.music_dim)
    inputs = ex.batch(ctx)
    inputs.pop("position_ids")
    eos, pad = ex.tokenizer.eos_token_id, ex.tokenizer.pad_token_id
    with torch.inference_mode():
        expected = ex.lm.generate(**inputs, generation_config=GenerationConfig(
            max_new_tokens=ex.max_new_tokens, do_sample=False, pad_token_id=pad, eos_token_id=eos))
        got = ex.decoder.generate(inputs_embeds=inputs["inputs_embeds"], attention_mask=inputs["attention_mask"],
                                  max_new_tokens=ex.max_new_tokens, stop_ids=[eos], pad_id=pad)
    assert got.shape == expected.shape and torch.equal(got, expected), (
        ex.tokenizer.batch_decode(got), ex.tokenizer.batch_decode(expected))


def test_explainer_text_is_the_same_with_either_decoder(offline_explainer):
    ex = offline_explainer
    ctx = contexts(1, ex.projection.music_dim)
    fast = ex.generate(ctx)
    decoder, ex.decoder = ex.decoder, None
    try:
        assert ex.generate(ctx) == fast
    finally:
        ex.decoder = decoder
    assert all(fast)
