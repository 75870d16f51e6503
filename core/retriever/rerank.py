"""Second stage for refinement turns: re-score candidates against the user's words.

The dual encoder ranks the whole catalog with one dot product between a query and a
track key. That is what makes search fast, but a dot product cannot say "faster than
the track I was just offered" or "no vocals, unlike that one": such wishes compare a
candidate with the previous pick, conditioned on the words. The re-ranker scores each
(preference, previous pick, candidate) triple with a small network over:

* the preference's words (mean of its token features) times how the candidate's
  tags, tempo and vocals differ from the previous pick's, and times the candidate's own;
* the similarity of the words to the candidate's metadata (a user naming a game or an
  artist), and to the previous pick's;
* the candidate's audio and metadata similarity to the previous pick, and the tempo ratio;
* the facts a user can state about a candidate relative to the previous pick ("no vocals",
  "faster", "more piano", "calmer", "shorter"; :mod:`core.retriever.facts`), each weighed by
  how much the words ask for it;

plus ``retriever_weight`` x the retriever's own score (chosen on validation). It runs on
the retriever's top ``candidates`` tracks of a refinement turn; turn 1 (no words) is
the retriever's ranking alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from core.retriever.facts import FACT_KEYS, fact_matrix

# name, name - name of previous, audio sim, metadata sim, log tempo ratio, |ratio|, tag sim, vocals gap,
# facts asked for
EXTRA_FEATURES = 9


@dataclass
class RerankerConfig:
    text_dim: int
    scalar_dim: int  # tag vocabulary + 4 (tempo/200, tempo known, P(vocals), vocals known)
    meta_dim: int
    music_dim: int
    hidden: int = 128
    dropout: float = 0.2
    candidates: int = 1000  # how many of the retriever's top tracks a refinement turn re-scores
    retriever_weight: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrackInputs:
    """What the re-ranker reads of tracks: rows of a TrackTable (any leading shape)."""

    scalars: Tensor
    meta: Tensor
    pooled: Tensor
    facts: Tensor  # core.retriever.facts.fact_basis rows

    @classmethod
    def from_table(cls, table, rows: np.ndarray, device: str | torch.device = "cpu") -> TrackInputs:
        T = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device)  # noqa: E731
        return cls(T(table.scalars[rows]), T(table.meta[rows]), T(table.pooled[rows]), T(table.facts[rows]))

    def fields(self) -> tuple[Tensor, ...]:
        return self.scalars, self.meta, self.pooled, self.facts


class Reranker(nn.Module):
    def __init__(self, cfg: RerankerConfig):
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        self.words = nn.Sequential(nn.LayerNorm(cfg.text_dim), nn.Linear(cfg.text_dim, h))
        self.diff = nn.Linear(cfg.scalar_dim, h)
        self.own = nn.Linear(cfg.scalar_dim, h)
        # Whether the words ask for each fact (logits; core.retriever.facts), and what a fact
        # asked for is worth: weight = gain * P(asked) + bias, per fact.
        self.ask = nn.Sequential(nn.LayerNorm(cfg.text_dim), nn.Linear(cfg.text_dim, len(FACT_KEYS)))
        self.fact_gain = nn.Parameter(torch.full((len(FACT_KEYS),), 4.0))
        self.fact_bias = nn.Parameter(torch.zeros(len(FACT_KEYS)))
        self.mlp = nn.Sequential(nn.Linear(2 * h + EXTRA_FEATURES, h), nn.GELU(), nn.Dropout(cfg.dropout),
                                 nn.Linear(h, 1))
        # Mean pooled audio feature of the training catalog: audio similarity is taken
        # around it (the raw features are all positive, so raw cosines are all close to 1).
        self.register_buffer("audio_mean", torch.zeros(cfg.music_dim))
        # The catalog's spread of energy and valence (core.retriever.facts.mood_scale).
        self.register_buffer("mood_scale", torch.ones(2))

    def forward(self, text: Tensor, prev: TrackInputs, cand: TrackInputs, base: Tensor | None = None) -> Tensor:
        """text [B, Dt] (mean token features), prev fields [B, *], cand fields [B, C, *] or [C, *],
        base [B, C] (the retriever's logits) -> scores [B, C]."""
        if cand.scalars.dim() == 2:  # one candidate list shared by the batch
            b = text.shape[0]
            cand = TrackInputs(*(x[None].expand(b, *x.shape) for x in cand.fields()))
        tempo = self.cfg.scalar_dim - 4
        a = self.words(text)[:, None]  # [B, 1, h]
        d = self.diff(cand.scalars - prev.scalars[:, None])
        c = self.own(cand.scalars)
        tn = F.normalize(text, dim=-1)
        cm, pm = F.normalize(cand.meta, dim=-1), F.normalize(prev.meta, dim=-1)
        name = torch.einsum("bd,bcd->bc", tn, cm)
        name_prev = (tn * pm).sum(-1, keepdim=True).expand_as(name)
        ca = F.normalize(cand.pooled - self.audio_mean, dim=-1)
        pa = F.normalize(prev.pooled - self.audio_mean, dim=-1)
        audio = torch.einsum("bd,bcd->bc", pa, ca)
        same_meta = torch.einsum("bd,bcd->bc", pm, cm)
        ratio = torch.log((cand.scalars[..., tempo] * 200 + 1) / (prev.scalars[:, None, tempo] * 200 + 1))
        ct, pt = F.normalize(cand.scalars[..., :tempo], dim=-1), F.normalize(prev.scalars[:, :tempo], dim=-1)
        tags = torch.einsum("bd,bcd->bc", pt, ct)
        vocals = (cand.scalars[..., tempo + 2] - prev.scalars[:, None, tempo + 2]).abs()
        weight = torch.sigmoid(self.ask(text)) * self.fact_gain + self.fact_bias
        asked = (weight[:, None] * fact_matrix(cand.facts, prev.facts, self.mood_scale)).sum(-1)
        extra = torch.stack([name, name - name_prev, audio, same_meta, ratio, ratio.abs(), tags, vocals, asked], -1)
        score = asked + self.mlp(torch.cat([a * d, a * c, extra], dim=-1)).squeeze(-1)
        if base is not None and self.cfg.retriever_weight:
            score = score + self.cfg.retriever_weight * base
        return score


def mean_tokens(tokens: Tensor, mask: Tensor) -> Tensor:
    """[B, L, D], [B, L] (True = real) -> [B, D]."""
    w = mask.float()[..., None]
    return (tokens * w).sum(1) / w.sum(1).clamp(min=1.0)


def rerank_matrix(reranker: Reranker, scores: np.ndarray, text: Tensor, prev_rows: np.ndarray, table,
                  exclude_previous: bool = True) -> np.ndarray:
    """Re-score each row's top ``candidates`` of ``scores`` [B, N] (retriever logits over ``table``).

    Returns a new [B, N] score matrix: the re-scored candidates rank above every other track,
    in the re-ranker's order; the rest keep the retriever's order. The previous pick is
    ranked last when ``exclude_previous`` (a conversation never offers it again).
    """
    scores = np.array(scores, dtype=np.float32, copy=True)
    b, n = scores.shape
    if exclude_previous:
        scores[np.arange(b), prev_rows] = -np.inf
    # The previous pick, at -inf, sorts last: leaving the last column out keeps it out.
    k = min(reranker.cfg.candidates, n - 1 if exclude_previous else n)
    top = np.argsort(-scores, axis=1)[:, :k]
    device = next(reranker.parameters()).device
    with torch.no_grad():
        prev = TrackInputs.from_table(table, prev_rows, device)
        cand = TrackInputs.from_table(table, top, device)
        # Candidates have finite scores (the previous pick is not one); the clip only guards
        # a caller's own -inf entries from turning the weighted sum into NaN.
        base = torch.from_numpy(np.clip(np.take_along_axis(scores, top, 1), -1e4, None)).to(device)
        new = reranker(text.to(device), prev, cand, base).float().cpu().numpy()
    # The candidates go above everything not re-scored: shift each row's new scores past
    # the row's highest other score (float64, so the retriever's order below is kept exactly).
    out = scores.astype(np.float64)
    rows = np.arange(b)[:, None]
    others = out.copy()
    others[rows, top] = -np.inf
    floor = np.where(np.isfinite(others).any(1), others.max(1), 0.0)
    out[rows, top] = new - new.min(1, keepdims=True) + floor[:, None] + 1.0
    if exclude_previous:
        out[np.arange(b), prev_rows] = -np.inf
    return out


def save_reranker(reranker: Reranker, folder: Path, metrics: dict | None = None) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in reranker.state_dict().items()}
    save_file(state, str(folder / "reranker.safetensors"))
    (folder / "reranker.json").write_text(json.dumps({"config": reranker.cfg.to_dict(), "metrics": metrics or {}},
                                                     indent=2, sort_keys=True))


def load_reranker(folder: Path, device: str = "cpu") -> Reranker | None:
    """The checkpoint's re-ranker, or None when it has none (turn 2 then uses the retriever alone)."""
    from safetensors.torch import load_file

    if not (folder / "reranker.safetensors").exists():
        return None
    from core.errors import WeightsMissing

    cfg = RerankerConfig(**json.loads((folder / "reranker.json").read_text())["config"])
    model = Reranker(cfg)
    try:
        model.load_state_dict({k: v.float() for k, v in load_file(str(folder / "reranker.safetensors")).items()})
    except RuntimeError as exc:  # weights of another version of the network
        raise WeightsMissing(
            f"the re-ranker in {folder} does not fit this version of MuseChat ({str(exc).splitlines()[-1].strip()}): "
            f"train a new one with `musechat train reranker --checkpoint {folder}`") from exc
    return model.eval().to(device)


def scale_of(retriever) -> float:
    return float(retriever.logit_scale.detach().clamp(max=math.log(100.0)).exp())
