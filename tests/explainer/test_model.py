"""The explainer model through the paper profile's code path, on a tiny random Llama."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.errors import WeightsMissing
from core.explainer.data import Example
from core.explainer.guard import MUSIC_SLOT, QUOTE_CLOSE, QUOTE_OPEN
from core.explainer.model import MAX_NEW_TOKENS, Explainer
from core.explainer.training import train
from tests.explainer.conftest import MUSIC_DIM, make_context, make_track, make_video

TARGET = "“Elvish Theme” by Doug Kaufman fits your dark video: a slow groove and no vocals."


def test_training_step_reduces_loss_and_touches_only_lora_and_projection(tiny_explainer):
    ex = tiny_explainer
    frozen_before = {n: p.detach().clone() for n, p in ex.lm.named_parameters() if "lora_" not in n}
    ctxs = [make_context(seed=i) for i in range(4)]
    targets = [TARGET] * 4
    opt = torch.optim.AdamW(ex.trainable_parameters(), lr=1e-2)
    ex.lm.train()
    first = ex.loss(ctxs, targets)
    first.backward()

    with_grad = {n for n, p in ex.lm.named_parameters() if p.grad is not None}
    assert with_grad and all("lora_" in n for n in with_grad)
    assert all(p.grad is not None for p in ex.projection.parameters())
    assert not any(p.requires_grad for n, p in ex.lm.named_parameters() if "lora_" not in n)

    opt.step()
    for _ in range(5):
        opt.zero_grad()
        loss = ex.loss(ctxs, targets)
        loss.backward()
        opt.step()
    assert loss.item() < first.item() - 0.1
    for n, p in ex.lm.named_parameters():
        if n in frozen_before:
            assert torch.equal(p, frozen_before[n]), f"frozen weight {n} changed"


def test_loss_scores_exactly_the_target_tokens(tiny_explainer):
    ctxs = [make_context(seed=1), make_context(preference="a much longer preference than the other one", seed=2)]
    targets = [TARGET, "Short one."]
    with torch.no_grad():
        reference = tiny_explainer.lm(**tiny_explainer.batch(ctxs, targets=targets)).loss
        ours = tiny_explainer.loss(ctxs, targets)
    assert torch.allclose(ours, reference, atol=1e-5)


def test_music_token_reaches_the_model(tiny_explainer):
    """Two tracks that differ only in their music embedding get different logits."""
    a, b = make_context(seed=1), make_context(seed=2)
    with torch.no_grad():
        la = tiny_explainer.lm(**tiny_explainer.batch([a])).logits[0, -1]
        lb = tiny_explainer.lm(**tiny_explainer.batch([b])).logits[0, -1]
        ln = tiny_explainer.lm(**tiny_explainer.batch([a], music=False)).logits[0, -1]
    assert not torch.allclose(la, lb)
    assert not torch.allclose(la, ln)


def test_batched_generation_gives_one_explanation_per_pick_same_as_alone(tiny_explainer):
    ctxs = [make_context(make_track(title="A Long Title For Padding " * 3), seed=1),
            make_context(preference="more piano", seed=2),
            make_context(make_track(artist=None, tags=[], tempo_bpm=None, instrumental=None), video=None, seed=3)]
    batched = tiny_explainer.generate(ctxs, max_new_tokens=12)
    alone = [tiny_explainer.generate([c], max_new_tokens=12)[0] for c in ctxs]
    assert batched == alone  # left padding and positions change nothing
    out = tiny_explainer.explain(ctxs, known_titles=["Elvish Theme", "Knolls"])
    assert len(out) == 3
    # A random model writes nonsense; the guard must replace it with facts, flagged.
    assert all(e.fallback and e.text for e in out)
    assert "Elvish Theme" in out[1].text


def test_generation_is_bounded(tiny_explainer, monkeypatch):
    calls = {}
    real = tiny_explainer.lm.generate

    def spy(**kwargs):
        calls["max_new_tokens"] = kwargs["generation_config"].max_new_tokens
        calls["do_sample"] = kwargs["generation_config"].do_sample
        return real(**kwargs)

    monkeypatch.setattr(tiny_explainer.lm, "generate", spy)
    tiny_explainer.generate([make_context()], max_new_tokens=500)
    assert calls == {"max_new_tokens": MAX_NEW_TOKENS, "do_sample": False}


def test_text_cut_by_the_token_bound_keeps_whole_sentences():
    from core.explainer.model import _whole_sentences

    assert _whole_sentences("It is slow.  It suits the\nseashore and") == "It is slow."
    assert _whole_sentences("It is slow. It suits “Knolls”.") == "It is slow. It suits “Knolls”."
    assert _whole_sentences("no sentence end at all") == "no sentence end at all"


def test_prompt_carries_the_facts_and_the_parsed_request(tiny_explainer):
    ctx = make_context(preference="calmer please", video=make_video())
    text = tiny_explainer.prompt_text(ctx)
    for fact in ("Elvish Theme", "Doug Kaufman", "piano", "ambient", "72 BPM", "slow", "instrumental",
                 "Video: slow-moving, dark, cool tones, mostly blue and black", "Has what was asked: slow",
                 MUSIC_SLOT):
        assert fact in text
    assert f"{QUOTE_OPEN}slow{QUOTE_CLOSE}" in text and "calmer please" not in text  # the wish, not the words
    assert text.index("ASSISTANT:") > text.index(QUOTE_CLOSE)


def test_wrong_music_dimension_is_an_error(tiny_explainer):
    with pytest.raises(ValueError, match="dims"):
        tiny_explainer.generate([make_context(dim=MUSIC_DIM + 1)])


def test_checkpoint_round_trip(tiny_explainer, paper_settings, tmp_path):
    ex = tiny_explainer
    examples = [Example(make_context(seed=i), [TARGET]) for i in range(8)]
    result = train(ex, examples, minutes=5, max_steps=3, batch_size=4)
    assert result.steps == 3
    ex.save(tmp_path / "ckpt", {"data": {"tracks": 1}})
    manifest = json.loads((tmp_path / "ckpt" / "manifest.json").read_text())
    assert manifest["profile"] == "paper" and manifest["music_dim"] == MUSIC_DIM
    assert manifest["base_model"] == str(paper_settings.explainer_model)
    assert (tmp_path / "ckpt" / "adapter_model.safetensors").exists()

    loaded = Explainer.load(paper_settings, tmp_path / "ckpt")
    ctxs = [make_context(seed=5), make_context(preference="faster", seed=6)]
    assert loaded.generate(ctxs, max_new_tokens=10) == ex.generate(ctxs, max_new_tokens=10)
    # The CPU speed option quantises the merged LM to int8; it still explains.
    quantized = Explainer.load(paper_settings, tmp_path / "ckpt", int8=True)
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in quantized.lm.modules())
    assert len(quantized.explain(ctxs, known_titles=["Elvish Theme"])) == 2


def test_missing_paper_weights_name_the_setting(paper_settings, tmp_path, monkeypatch):
    from core.config import get_settings, reset_settings

    monkeypatch.setenv("MUSECHAT_EXPLAINER_MODEL", str(tmp_path / "no-such-model"))
    reset_settings()
    with pytest.raises(WeightsMissing, match="MUSECHAT_EXPLAINER_MODEL"):
        Explainer.new(get_settings(), music_dim=8)


def test_missing_checkpoint_says_how_to_train(paper_settings, tmp_path):
    with pytest.raises(WeightsMissing, match="musechat train explainer"):
        Explainer.load(paper_settings, tmp_path / "nothing-here")


def test_embedding_dim_comes_from_data(paper_settings):
    ex = Explainer.new(paper_settings, music_dim=7)
    out = ex.generate([make_context(dim=7)], max_new_tokens=3)
    assert len(out) == 1
    assert np.isfinite(ex.projection.linear.weight.detach().numpy()).all()
