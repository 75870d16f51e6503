"""The MuseChat retriever (the paper's recommendation module).

Query tower (video + the user's words + the previously recommended track):

    frames [B,T,Df] -> Linear -> + position -> temporal Transformer      (video tokens)
    text   [B,L,Dt] -> Linear                     (or a learned "absent" token)
    prev   [B,S,Dm] segments + its descriptor -> Linear  (or a learned "absent" token)
    fusion: each layer lets the video tokens cross-attend to the text, then to the
            previous track (``fusion="xattn"``), or pools each and concatenates (the
            ``"concat"`` ablation) -> mean over video tokens -> Linear -> L2-normalised query.

Music tower: track descriptor (pooled audio features, tag probabilities, tempo, vocals,
metadata text embedding) -> MLP -> L2-normalised key. Recommendation = cosine(query, key).

Loss: symmetric InfoNCE over the batch with a learnable temperature.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F


@dataclass
class RetrieverConfig:
    frame_dim: int
    text_dim: int
    music_dim: int
    scalar_dim: int  # tag vocabulary + 4 (tempo, tempo known, vocals, vocals known)
    meta_dim: int  # metadata text embedding (= text_dim)
    joint_dim: int = 256
    hidden: int = 256
    heads: int = 4
    temporal_layers: int = 2
    fusion_layers: int = 2
    max_frames: int = 32
    dropout: float = 0.1
    fusion: str = "xattn"  # "xattn" | "concat"
    # Dropout on the music tower's input: with a few hundred training tracks, the tower
    # otherwise memorises each track's identity instead of learning what its tags mean.
    input_dropout: float = 0.0
    use_text: bool = True
    use_previous: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


class _CrossBlock(nn.Module):
    """Video tokens attend to text, then to the previous track, then an FFN (pre-norm)."""

    def __init__(self, h: int, heads: int, dropout: float):
        super().__init__()
        self.n1, self.n2, self.n3 = nn.LayerNorm(h), nn.LayerNorm(h), nn.LayerNorm(h)
        self.to_text = nn.MultiheadAttention(h, heads, dropout=dropout, batch_first=True)
        self.to_prev = nn.MultiheadAttention(h, heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(h, 4 * h), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * h, h))

    def forward(self, v: Tensor, text: Tensor, text_pad: Tensor, prev: Tensor, prev_pad: Tensor) -> Tensor:
        q = self.n1(v)
        v = v + self.to_text(q, text, text, key_padding_mask=text_pad, need_weights=False)[0]
        q = self.n2(v)
        v = v + self.to_prev(q, prev, prev, key_padding_mask=prev_pad, need_weights=False)[0]
        return v + self.ffn(self.n3(v))


class MusicTower(nn.Module):
    def __init__(self, cfg: RetrieverConfig):
        super().__init__()
        in_dim = cfg.music_dim + cfg.scalar_dim + cfg.meta_dim
        self.norm = nn.LayerNorm(cfg.music_dim)
        self.input_dropout = nn.Dropout(cfg.input_dropout)
        self.mlp = nn.Sequential(nn.Linear(in_dim, cfg.hidden * 2), nn.GELU(), nn.Dropout(cfg.dropout),
                                 nn.Linear(cfg.hidden * 2, cfg.joint_dim))

    def descriptor(self, pooled: Tensor, scalars: Tensor, meta: Tensor) -> Tensor:
        return torch.cat([self.norm(pooled), scalars, meta], dim=-1)

    def forward(self, pooled: Tensor, scalars: Tensor, meta: Tensor) -> Tensor:
        """pooled [N, Dm], scalars [N, V+4], meta [N, Dt] -> keys [N, joint] (unit length)."""
        return F.normalize(self.mlp(self.input_dropout(self.descriptor(pooled, scalars, meta))), dim=-1)


class QueryTower(nn.Module):
    def __init__(self, cfg: RetrieverConfig):
        super().__init__()
        h = cfg.hidden
        self.cfg = cfg
        self.frame_proj = nn.Sequential(nn.LayerNorm(cfg.frame_dim), nn.Linear(cfg.frame_dim, h))
        self.frame_pos = nn.Parameter(torch.randn(cfg.max_frames, h) * 0.02)
        layer = nn.TransformerEncoderLayer(h, cfg.heads, 4 * h, cfg.dropout, batch_first=True, norm_first=True)
        self.temporal = nn.TransformerEncoder(layer, cfg.temporal_layers, enable_nested_tensor=False)
        self.text_proj = nn.Sequential(nn.LayerNorm(cfg.text_dim), nn.Linear(cfg.text_dim, h))
        self.seg_proj = nn.Sequential(nn.LayerNorm(cfg.music_dim), nn.Linear(cfg.music_dim, h))
        desc_dim = cfg.music_dim + cfg.scalar_dim + cfg.meta_dim
        self.desc_proj = nn.Linear(desc_dim, h)
        # Learned stand-ins for inputs a turn doesn't have (turn 1: no text, no previous pick).
        self.absent_video = nn.Parameter(torch.randn(1, h) * 0.02)
        self.absent_text = nn.Parameter(torch.randn(1, h) * 0.02)
        self.absent_prev = nn.Parameter(torch.randn(1, h) * 0.02)
        if cfg.fusion == "xattn":
            self.blocks = nn.ModuleList(_CrossBlock(h, cfg.heads, cfg.dropout) for _ in range(cfg.fusion_layers))
            self.out = nn.Sequential(nn.LayerNorm(h), nn.Linear(h, cfg.joint_dim))
        elif cfg.fusion == "concat":
            self.out = nn.Sequential(nn.LayerNorm(3 * h), nn.Linear(3 * h, 2 * h), nn.GELU(),
                                     nn.Linear(2 * h, cfg.joint_dim))
        else:
            raise ValueError(f"unknown fusion {cfg.fusion!r}")

    @staticmethod
    def _with_absent(tokens: Tensor, pad: Tensor, present: Tensor, absent: Tensor) -> tuple[Tensor, Tensor]:
        """Append the absent token; it is the only key for rows where ``present`` is False."""
        b = tokens.shape[0]
        tokens = torch.cat([tokens, absent.expand(b, 1, -1)], dim=1)
        pad = torch.cat([pad | ~present[:, None], present[:, None]], dim=1)
        return tokens, pad

    def forward(self, frames: Tensor, frame_mask: Tensor, has_video: Tensor,
                text: Tensor, text_mask: Tensor, has_text: Tensor,
                prev_segments: Tensor, prev_seg_mask: Tensor, prev_desc: Tensor, has_prev: Tensor) -> Tensor:
        """Shapes: frames [B,T,Df], frame_mask [B,T] (True = real), text [B,L,Dt], text_mask [B,L],
        prev_segments [B,S,Dm], prev_seg_mask [B,S], prev_desc [B, Dm+V+4+Dt]; has_* [B] bool.
        Returns queries [B, joint] (unit length)."""
        cfg = self.cfg
        if not cfg.use_text:
            has_text = torch.zeros_like(has_text)
        if not cfg.use_previous:
            has_prev = torch.zeros_like(has_prev)
        b, t, _ = frames.shape
        v = self.frame_proj(frames) + self.frame_pos[:t]
        v_pad = ~frame_mask | ~has_video[:, None]
        v, v_pad = self._with_absent(v, v_pad, has_video, self.absent_video)
        v = self.temporal(v, src_key_padding_mask=v_pad)

        x = self.text_proj(text)
        x, x_pad = self._with_absent(x, ~text_mask, has_text, self.absent_text)
        p = torch.cat([self.desc_proj(prev_desc)[:, None], self.seg_proj(prev_segments)], dim=1)
        p_pad = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=p.device), ~prev_seg_mask], dim=1)
        p, p_pad = self._with_absent(p, p_pad, has_prev, self.absent_prev)

        if cfg.fusion == "xattn":
            for block in self.blocks:
                v = block(v, x, x_pad, p, p_pad)
            pooled = _masked_mean(v, ~v_pad)
        else:
            pooled = torch.cat([_masked_mean(v, ~v_pad), _masked_mean(x, ~x_pad), _masked_mean(p, ~p_pad)], dim=-1)
        return F.normalize(self.out(pooled), dim=-1)


def _masked_mean(x: Tensor, keep: Tensor) -> Tensor:
    w = keep.float()[..., None]
    return (x * w).sum(1) / w.sum(1).clamp(min=1.0)


class Retriever(nn.Module):
    def __init__(self, cfg: RetrieverConfig):
        super().__init__()
        self.cfg = cfg
        self.query = QueryTower(cfg)
        self.music = MusicTower(cfg)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def keys(self, pooled: Tensor, scalars: Tensor, meta: Tensor) -> Tensor:
        return self.music(pooled, scalars, meta)

    def descriptor(self, pooled: Tensor, scalars: Tensor, meta: Tensor) -> Tensor:
        return self.music.descriptor(pooled, scalars, meta)

    def loss(self, queries: Tensor, keys: Tensor, prev_keys: Tensor | None = None,
             has_prev: Tensor | None = None) -> Tensor:
        """Symmetric InfoNCE: row i of queries matches row i of keys; every other row is a negative.

        ``prev_keys`` [B, joint] adds, for each query with a previous pick, that pick's key as
        one more negative in the query->music direction: the user asked for something else.
        """
        scale = self.logit_scale.clamp(max=math.log(100.0)).exp()
        logits = scale * queries @ keys.T
        target = torch.arange(len(queries), device=queries.device)
        q2m = logits
        if prev_keys is not None and has_prev is not None:
            extra = scale * (queries * prev_keys).sum(-1, keepdim=True)
            extra = extra.masked_fill(~has_prev[:, None], float("-inf"))
            q2m = torch.cat([logits, extra], dim=1)
        return (F.cross_entropy(q2m, target) + F.cross_entropy(logits.T, target)) / 2
