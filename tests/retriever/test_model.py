"""The retriever's towers, fusion modes and loss, at toy size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.retriever.data import Example, unique_target_batches
from core.retriever.evaluate import random_expectation, ranks_of_targets, summarize
from core.retriever.model import Retriever, RetrieverConfig

B, T, L, S = 6, 5, 7, 3


def _cfg(**kw) -> RetrieverConfig:
    return RetrieverConfig(frame_dim=20, text_dim=12, music_dim=16, scalar_dim=9, meta_dim=12,
                           joint_dim=8, hidden=16, heads=2, temporal_layers=1, fusion_layers=1, dropout=0.0, **kw)


def _inputs(model: Retriever, has_text=True, has_prev=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    desc = model.descriptor(torch.randn(B, 16, generator=g), torch.rand(B, 9, generator=g),
                            torch.randn(B, 12, generator=g))
    return dict(
        frames=torch.randn(B, T, 20, generator=g), frame_mask=torch.ones(B, T, dtype=torch.bool),
        has_video=torch.ones(B, dtype=torch.bool),
        text=torch.randn(B, L, 12, generator=g), text_mask=torch.ones(B, L, dtype=torch.bool),
        has_text=torch.full((B,), has_text), prev_segments=torch.randn(B, S, 16, generator=g),
        prev_seg_mask=torch.ones(B, S, dtype=torch.bool), prev_desc=desc, has_prev=torch.full((B,), has_prev))


@pytest.mark.parametrize("fusion", ["xattn", "concat"])
def test_queries_are_unit_vectors_and_use_every_input(fusion):
    torch.manual_seed(0)
    model = Retriever(_cfg(fusion=fusion)).eval()
    base = model.query(**_inputs(model))
    assert base.shape == (B, 8)
    torch.testing.assert_close(base.norm(dim=-1), torch.ones(B))
    other_text = _inputs(model)
    other_text["text"] = torch.randn_like(other_text["text"])
    assert not torch.allclose(model.query(**other_text), base)
    no_text = model.query(**_inputs(model, has_text=False))
    assert not torch.allclose(no_text, base)


def test_absent_inputs_ignore_their_placeholders():
    """With has_text False, whatever sits in the text tensor changes nothing (turn 1)."""
    model = Retriever(_cfg()).eval()
    a = _inputs(model, has_text=False, has_prev=False)
    b = dict(a, text=torch.randn_like(a["text"]), prev_segments=torch.randn_like(a["prev_segments"]))
    torch.testing.assert_close(model.query(**a), model.query(**b))


def test_ablation_flags_switch_inputs_off():
    model = Retriever(_cfg(use_text=False)).eval()
    a = _inputs(model)
    b = dict(a, text=torch.randn_like(a["text"]))
    torch.testing.assert_close(model.query(**a), model.query(**b))


def test_training_steps_reduce_the_loss():
    torch.manual_seed(0)
    model = Retriever(_cfg())
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    inputs = _inputs(model)
    pooled, scalars, meta = torch.randn(B, 16), torch.rand(B, 9), torch.randn(B, 12)
    losses = []
    for _ in range(40):
        inputs["prev_desc"] = model.descriptor(pooled.roll(1, 0), scalars.roll(1, 0), meta.roll(1, 0)).detach()
        q = model.query(**inputs)
        k = model.keys(pooled, scalars, meta)
        pk = model.keys(pooled.roll(1, 0), scalars.roll(1, 0), meta.roll(1, 0))
        loss = model.loss(q, k, pk, inputs["has_prev"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert model.logit_scale.grad is not None


def test_batches_never_repeat_a_target():
    exs = [Example(None, "x", 0, t) for t in np.random.default_rng(0).integers(0, 20, 300)]
    batches = unique_target_batches(exs, 16, np.random.default_rng(1))
    for b in batches:
        targets = [e.target for e in b]
        assert len(targets) == len(set(targets)) and len(b) <= 16
    assert sum(len(b) for b in batches) >= 0.95 * len(exs)


def test_metrics():
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.1], [0.5, 0.5, 0.5]])
    ranks = ranks_of_targets(scores, np.array([0, 0, 1]))
    assert ranks.tolist() == [1, 2, 3]  # ties count against the target
    m = summarize(ranks)
    assert m["R@1"] == round(1 / 3, 4) and m["MedR"] == 2.0
    assert random_expectation(300) == {"R@1": 0.0033, "R@5": 0.0167, "R@10": 0.0333}
