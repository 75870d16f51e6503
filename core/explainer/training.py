"""Training the explainer's LoRA adapter and music projection on reference explanations."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.explainer.data import Example
from core.explainer.model import Explainer


@dataclass
class TrainResult:
    steps: int
    examples_seen: int
    seconds: float
    first_loss: float  # mean of the first 10 steps
    last_loss: float  # mean of the last 10 steps


def _batches(examples: list[Example], batch_size: int, rng: random.Random) -> list[list[Example]]:
    """Shuffled batches of similar prompt length (less padding, same randomness per epoch)."""
    order = examples[:]
    rng.shuffle(order)
    chunk = batch_size * 16
    batches = []
    for i in range(0, len(order), chunk):
        part = sorted(order[i:i + chunk], key=lambda e: len(e.references[0]) + len(e.context.preference or ""))
        batches += [part[j:j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def train(explainer: Explainer, examples: list[Example], *, minutes: float = 15.0,
          max_steps: int | None = None, batch_size: int = 4, lr: float = 1e-3,
          projection_lr: float = 2e-3, warmup_steps: int = 8, seed: int = 0,
          on_step: Callable[[int, float, float], None] | None = None) -> TrainResult:
    """Train LoRA + projection until ``minutes`` or ``max_steps`` run out (whichever first).

    The learning rate warms up, then follows a cosine over the budget. ``on_step(step,
    loss, fraction_done)`` reports progress. Only the adapter and the projection change.
    """
    if not examples:
        raise ValueError("no training examples")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    lora = [p for p in explainer.lm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([
        {"params": lora, "lr": lr, "weight_decay": 0.0},
        {"params": list(explainer.projection.parameters()), "lr": projection_lr, "weight_decay": 0.01},
    ])
    base_lrs = [g["lr"] for g in opt.param_groups]
    explainer.lm.train()
    explainer.projection.train()
    budget = minutes * 60.0
    start = time.monotonic()
    losses: list[float] = []
    step = seen = 0
    done = False
    while not done:
        for batch in _batches(examples, batch_size, rng):
            elapsed = time.monotonic() - start
            frac = max(elapsed / budget if budget > 0 else 0.0, step / max_steps if max_steps else 0.0)
            if frac >= 1.0:
                done = True
                break
            scale = min(1.0, (step + 1) / warmup_steps) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
            for g, base in zip(opt.param_groups, base_lrs, strict=True):
                g["lr"] = base * scale
            loss = explainer.loss([e.context for e in batch], [e.references[0] for e in batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(lora + list(explainer.projection.parameters()), 1.0)
            opt.step()
            step += 1
            seen += len(batch)
            losses.append(loss.item())
            if on_step:
                on_step(step, losses[-1], min(1.0, frac))
    explainer.lm.eval()
    explainer.projection.eval()
    return TrainResult(step, seen, time.monotonic() - start, _mean(losses[:10]), _mean(losses[-10:]))


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")
