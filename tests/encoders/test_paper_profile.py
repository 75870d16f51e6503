"""The paper profile's encoders, built tiny and random (nothing is downloaded)."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import get_settings, reset_settings
from core.encoders import load_encoders
from core.encoders.paper import ASTMusic, ClipFrames, ClipText, ClipTowers
from core.errors import WeightsMissing


@pytest.fixture(scope="module")
def towers():
    return ClipTowers.tiny()


def test_clip_frames_and_labels(towers):
    frames = np.random.default_rng(0).integers(0, 255, (5, 224, 224, 3), dtype=np.uint8)
    enc = ClipFrames(towers)
    feats, content = enc.encode_with_content(frames)
    assert feats.shape == (5, enc.dim) and feats.dtype == np.float32
    names, probs = enc.class_probabilities(frames)
    assert probs.shape == (5, len(names)) and np.allclose(probs.sum(1), 1.0, atol=1e-4)
    assert all(c.probability >= 0.6 and c.name in names for c in content)
    # The label prompts are encoded once per encoder, not once per video.
    calls = []
    encode_text = towers.encode_text
    towers.encode_text = lambda texts: calls.append(texts) or encode_text(texts)
    try:
        assert enc.encode_with_content(frames)[1] == content and calls == []
    finally:
        del towers.encode_text


def test_clip_text_tokens_mask_and_pooled(towers):
    out = ClipText(towers).encode(["calmer, no vocals", "something with much more energy and drums"])
    b, length, dim = out.tokens.shape
    assert (b, dim) == (2, towers.dim) and length == 77
    assert out.mask[0].sum() < out.mask[1].sum()  # the shorter text has fewer real tokens
    np.testing.assert_allclose(np.linalg.norm(out.pooled, axis=1), 1.0, rtol=1e-5)


def test_ast_segments_cover_the_track():
    enc = ASTMusic.tiny()
    sr = enc.sample_rate
    audio = np.sin(2 * np.pi * 440 * np.arange(35 * sr) / sr).astype(np.float32) * 0.5
    out = enc.encode(audio)
    assert out.segments.shape == (4, enc.dim)  # 35 s in ~10 s windows
    assert out.pooled.shape == (enc.dim,)
    assert set(out.tags) == {"audioset"}


def test_user_facing_paper_run_without_weights_names_them(monkeypatch, tmp_path):
    monkeypatch.setenv("MUSECHAT_PROFILE", "paper")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    reset_settings()
    with pytest.raises(WeightsMissing) as err:
        load_encoders(get_settings())
    assert "AST" in str(err.value) and "MUSECHAT_AST_MODEL" in str(err.value)
