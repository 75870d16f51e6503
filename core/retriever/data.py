"""Training and evaluation examples for the retriever, as tensors.

An example is one turn: (video or none, preference text or none, previous track or
none) -> target track. Conversations (``musechat data synth``) give a turn-2 example
each, and a turn-1 example when they have a video.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.retriever.facts import stated_facts
from core.retriever.features import TrackTable

MAX_TEXT_TOKENS = 32


@dataclass
class Example:
    video: str | None  # key into the video feature table
    text: str | None
    previous: int | None  # row in the TrackTable
    target: int  # row in the TrackTable
    # Facts the preference states (core.retriever.facts.FACT_KEYS indices), where the data says.
    stated: tuple[int, ...] = ()


def read_conversations(path: Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def examples_from_conversations(convs: list[dict], table: TrackTable, *, turn1: bool = True) -> list[Example]:
    """Turn-2 example per conversation, plus turn-1 where there is a video (deduplicated)."""
    pos = {h: i for i, h in enumerate(table.hashes)}
    out, seen_turn1 = [], set()
    for c in convs:
        if c["target"] not in pos or c["turn1_pick"] not in pos:
            continue
        target = pos[c["target"]]
        out.append(Example(c.get("video"), c["preference"], pos[c["turn1_pick"]], target, stated_facts(c)))
        if turn1 and c.get("video") and (c["video"], target) not in seen_turn1:
            seen_turn1.add((c["video"], target))
            out.append(Example(c["video"], None, None, target))
    return out


class FeatureBank:
    """Precomputed inputs: video frame features and text token features, by key."""

    def __init__(self, frame_dim: int, text_dim: int, max_frames: int = 12):
        self.videos: dict[str, np.ndarray] = {}
        self.texts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.frame_dim, self.text_dim, self.max_frames = frame_dim, text_dim, max_frames

    def add_texts(self, text_encoder, texts: list[str], batch: int = 128) -> None:
        todo = sorted({t for t in texts if t and t not in self.texts})
        for i in range(0, len(todo), batch):
            chunk = todo[i:i + batch]
            feats = text_encoder.encode(chunk)
            for j, t in enumerate(chunk):
                n = int(feats.mask[j].sum())
                keep = min(n, MAX_TEXT_TOKENS)
                self.texts[t] = (feats.tokens[j, :keep].astype(np.float16), np.ones(keep, bool))

    def pooled_texts(self, texts: list[str]) -> torch.Tensor:
        """Mean token features of each text [B, Dt] (the re-ranker's view of the words)."""
        return torch.from_numpy(np.stack([self.texts[t][0].astype(np.float32).mean(0) for t in texts]))

    def collate(self, batch: list[Example], table: TrackTable, model, device: str) -> dict[str, torch.Tensor]:
        """Query-tower inputs for a batch of examples (see QueryTower.forward)."""
        b = len(batch)
        # Pad to the longest input in this batch, not the maximum: most preferences are short.
        t = max([min(len(self.videos[e.video]), self.max_frames) for e in batch
                 if e.video is not None and e.video in self.videos] or [1])
        length = max([len(self.texts[e.text][0]) for e in batch if e.text] or [1])
        frames = np.zeros((b, t, self.frame_dim), np.float32)
        fmask = np.zeros((b, t), bool)
        has_video = np.zeros(b, bool)
        text = np.zeros((b, length, self.text_dim), np.float32)
        tmask = np.zeros((b, length), bool)
        has_text = np.zeros(b, bool)
        prev_rows = np.zeros(b, np.int64)
        has_prev = np.zeros(b, bool)
        for i, ex in enumerate(batch):
            if ex.video is not None and ex.video in self.videos:
                v = self.videos[ex.video][:t]
                frames[i, : len(v)] = v
                fmask[i, : len(v)] = True
                has_video[i] = True
            if ex.text:
                tok, m = self.texts[ex.text]
                text[i, : len(tok)] = tok
                tmask[i, : len(m)] = m
                has_text[i] = True
            if ex.previous is not None:
                prev_rows[i] = ex.previous
                has_prev[i] = True
        T = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
        pooled, scalars, meta = (T(table.pooled[prev_rows]), T(table.scalars[prev_rows]), T(table.meta[prev_rows]))
        return dict(
            frames=T(frames), frame_mask=T(fmask), has_video=T(has_video),
            text=T(text), text_mask=T(tmask), has_text=T(has_text),
            prev_segments=T(table.segments[prev_rows]), prev_seg_mask=T(table.seg_mask[prev_rows] | ~has_prev[:, None]),
            prev_desc=model.descriptor(pooled, scalars, meta), has_prev=T(has_prev),
        )


def unique_target_batches(examples: list[Example], batch_size: int, rng: np.random.Generator) -> list[list[Example]]:
    """Shuffled batches in which no two examples share a target (no false negatives in InfoNCE)."""
    order = rng.permutation(len(examples))
    batches: list[list[Example]] = []
    open_batches: list[tuple[list[Example], set[int]]] = []
    for i in order:
        ex = examples[i]
        for items, targets in open_batches:
            if ex.target not in targets and len(items) < batch_size:
                items.append(ex)
                targets.add(ex.target)
                break
        else:
            open_batches.append(([ex], {ex.target}))
        full = [ob for ob in open_batches if len(ob[0]) >= batch_size]
        for ob in full:
            batches.append(ob[0])
            open_batches.remove(ob)
    batches.extend(items for items, _ in open_batches if len(items) > 1)
    return batches
