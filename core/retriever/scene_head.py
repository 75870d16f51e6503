"""The turn-1 scene head: a low-capacity map from what a video looks like to what its music sounds like.

A few hundred designer-made scene -> music pairs are too few for a transformer query
tower to learn what generalises to a game it has never seen (measured by leave-one-game-
out, :mod:`core.retriever.logo`). The scene head is ridge regression in two small PCA
spaces:

    video  x = [PCA_kv(standardised mean frame features), standardised video facts]
    music  m = PCA_km(standardised [tag probabilities, tempo, vocals, pooled audio features])
    y_hat  = x @ W        (ridge, fitted on the pairs' target tracks)
    score(track) = cos(y_hat, m(track)) + pace_weight * pace(video) * drive(track)

``pace(video)`` is a fixed function of the measured motion and cuts (negative for slow
footage, positive for fast, 0 at the slow/moderate boundary) and ``drive(track)`` the mean
of the track's standardised tempo and energy; the pairs cannot teach this coupling
(every training clip is a slow pan), so its one weight is chosen on pace pairs made
from training footage (:mod:`core.retriever.pace`), never on a number that is reported.

The music PCA is fitted on the catalog (no labels involved), the video PCA, the
standardisation and the ridge on the training pairs only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.video_facts import FACT_DIM, VideoFacts

SCENE_HEAD_FILE = "scene_head.npz"
# Pace of the video (see :func:`video_pace`): log motion relative to the slow/moderate
# boundary, plus cuts; clipped so one extreme clip cannot swamp the learned part.
_PACE_PIVOT = 0.08
_PACE_CLIP = 2.0


@dataclass
class SceneHeadConfig:
    video_dims: int = 32  # PCA components of the mean frame features (0: no frame features)
    music_dims: int = 32  # PCA components of the music descriptor
    ridge: float = 10.0  # L2 penalty, relative to the number of training pairs
    use_facts: bool = True  # the video facts join the frame features
    use_frames: bool = True
    pace_weight: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def video_pace(facts: VideoFacts | None) -> float:
    """A signed pace score: < 0 slower than "moderate", > 0 faster; 0 when unknown."""
    if facts is None:
        return 0.0
    p = np.log((facts.motion + 0.01) / (_PACE_PIVOT + 0.01)) + facts.cuts_per_min / 20.0
    return float(np.clip(p, -_PACE_CLIP, _PACE_CLIP))


def music_descriptor(scalars: np.ndarray, pooled: np.ndarray) -> np.ndarray:
    """[N, S + Dm] raw music descriptor from a track table's scalars and pooled features."""
    return np.concatenate([np.asarray(scalars, np.float32), np.asarray(pooled, np.float32)], axis=1)


def track_drive(facts_basis: np.ndarray) -> np.ndarray:
    """[N] standardised (tempo + energy) / 2 per track from the re-ranker's fact basis
    (core.retriever.facts.fact_basis: column 1 tempo, column 2 energy); 0 where unknown."""
    tempo = np.asarray(facts_basis[:, 1], np.float64)
    energy = np.asarray(facts_basis[:, 2], np.float64)

    def z(a: np.ndarray) -> np.ndarray:
        ok = np.isfinite(a)
        if ok.sum() < 2:
            return np.zeros(len(a))
        out = (a - a[ok].mean()) / max(a[ok].std(), 1e-6)
        return np.where(ok, out, 0.0)

    return ((z(tempo) + z(energy)) / 2).astype(np.float32)


def video_inputs(frame_features: np.ndarray, facts: VideoFacts | None) -> tuple[np.ndarray, np.ndarray]:
    """(mean frame features [Df], facts vector [FACT_DIM]) for one video."""
    fv = facts.vector() if facts is not None else np.zeros(FACT_DIM, np.float32)
    return np.asarray(frame_features, np.float32).mean(0), fv


@dataclass
class Basis:
    """Standardisation and principal directions of a set of rows: mean [D], std [D], vt [r, D]."""

    mean: np.ndarray
    std: np.ndarray
    vt: np.ndarray

    def components(self, k: int) -> np.ndarray:
        """[D, k'] the first k' = min(k, available) principal directions."""
        k = max(0, min(k, len(self.vt)))
        return np.ascontiguousarray(self.vt[:k].T, dtype=np.float32)


def basis(x: np.ndarray, max_components: int = 128) -> Basis:
    """Column means and spreads of rows ``x`` [n, D], and the principal directions of the
    standardised rows (at most ``max_components``, fewer than n)."""
    mean = x.mean(0).astype(np.float32)
    std = (x.std(0) + 1e-4).astype(np.float32)
    z = (x - mean) / std
    keep = max(0, min(max_components, min(z.shape) - 1))
    if keep == 0:
        return Basis(mean, std, np.zeros((0, x.shape[1]), np.float32))
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    return Basis(mean, std, vt[:keep].astype(np.float32))


class SceneHead:
    """Fitted parameters; see the module docstring. All arrays float32."""

    def __init__(self, cfg: SceneHeadConfig, arrays: dict[str, np.ndarray]):
        self.cfg = cfg
        self.a = arrays

    @property
    def music_inputs(self) -> int:
        """Width of the raw music descriptor this head reads (tag vocabulary + 4 + audio features)."""
        return int(self.a["music_mean"].shape[0])

    # --- fitting ----------------------------------------------------------------------
    @classmethod
    def fit(cls, cfg: SceneHeadConfig, frames: np.ndarray, facts: np.ndarray, targets: np.ndarray,
            catalog_music: np.ndarray, *, video_basis: Basis | None = None, music_basis: Basis | None = None
            ) -> SceneHead:
        """frames [n, Df] mean frame features, facts [n, FACT_DIM], targets [n, Dmusic] the
        raw music descriptor of each pair's track, catalog_music [N, Dmusic] every catalog
        track's (for the music PCA). ``video_basis``/``music_basis``: :func:`basis` of
        ``frames``/``catalog_music`` when already computed (selection refits many settings)."""
        a: dict[str, np.ndarray] = {}
        mb = music_basis or basis(catalog_music)
        a["music_mean"], a["music_std"], a["music_pca"] = mb.mean, mb.std, mb.components(cfg.music_dims)
        vb = video_basis or basis(frames)
        a["video_mean"], a["video_std"] = vb.mean, vb.std
        a["video_pca"] = vb.components(cfg.video_dims if cfg.use_frames else 0)
        a["facts_mean"], a["facts_std"] = facts.mean(0).astype(np.float32), (facts.std(0) + 1e-4).astype(np.float32)
        head = cls(cfg, a)
        x = head._x(frames, facts)
        y = head.music_space(targets)
        x_mean, y_mean = x.mean(0), y.mean(0)
        xc, yc = x - x_mean, y - y_mean
        lam = cfg.ridge * len(x) / max(1, x.shape[1])
        w = np.linalg.solve(xc.T @ xc + lam * np.eye(x.shape[1]), xc.T @ yc) if x.shape[1] else \
            np.zeros((0, y.shape[1]))
        a["x_mean"], a["y_mean"], a["w"] = x_mean.astype(np.float32), y_mean.astype(np.float32), w.astype(np.float32)
        return head

    def _x(self, frames: np.ndarray, facts: np.ndarray) -> np.ndarray:
        a = self.a
        parts = [((frames - a["video_mean"]) / a["video_std"]) @ a["video_pca"]]
        if self.cfg.use_facts:
            parts.append((facts - a["facts_mean"]) / a["facts_std"])
        return np.concatenate(parts, axis=1).astype(np.float32)

    # --- scoring ----------------------------------------------------------------------
    def music_space(self, music: np.ndarray) -> np.ndarray:
        """[N, km] raw music descriptors in the head's music space."""
        return ((np.asarray(music, np.float32) - self.a["music_mean"]) / self.a["music_std"]) @ self.a["music_pca"]

    def predict(self, frames: np.ndarray, facts: np.ndarray) -> np.ndarray:
        """[n, km] predicted music for videos ([n, Df] mean frame features, [n, FACT_DIM] facts)."""
        x = self._x(np.atleast_2d(frames), np.atleast_2d(facts))
        if x.shape[1] == 0:
            return np.zeros((len(x), self.a["y_mean"].shape[0]), np.float32)
        return (x - self.a["x_mean"]) @ self.a["w"] + self.a["y_mean"]

    def scores(self, predicted: np.ndarray, music: np.ndarray, pace: np.ndarray | float = 0.0,
               drive: np.ndarray | None = None) -> np.ndarray:
        """[n, N] scores of N tracks (music [N, km] from :meth:`music_space`) for n predictions;
        ``pace`` [n] from :func:`video_pace`, ``drive`` [N] from :func:`track_drive`."""
        p = predicted / np.linalg.norm(predicted, axis=1, keepdims=True).clip(1e-6)
        m = music / np.linalg.norm(music, axis=1, keepdims=True).clip(1e-6)
        s = p @ m.T
        if drive is not None and self.cfg.pace_weight:
            s = s + self.cfg.pace_weight * np.asarray(pace, np.float32).reshape(-1, 1) * drive[None, :]
        return s

    def catalog(self, scalars: np.ndarray, pooled: np.ndarray, facts_basis: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """(music [N, km], drive [N]) for catalog rows given as a track table's scalars,
        pooled features and fact basis: what :meth:`score_videos` ranks."""
        raw = music_descriptor(np.asarray(scalars, np.float32), np.asarray(pooled, np.float32))
        return self.music_space(raw), track_drive(np.asarray(facts_basis))

    def score_videos(self, analyses, music: np.ndarray, drive: np.ndarray) -> np.ndarray:
        """[n, N] turn-1 scores of the catalog (from :meth:`catalog`) for n video analyses."""
        inputs = [video_inputs(a.frame_features, a.facts) for a in analyses]
        pred = self.predict(np.stack([f for f, _ in inputs]), np.stack([v for _, v in inputs]))
        return self.scores(pred, music, np.array([video_pace(a.facts) for a in analyses], np.float32), drive)

    # --- persistence --------------------------------------------------------------------
    def save(self, folder: Path, info: dict | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / SCENE_HEAD_FILE, config=np.array(json.dumps(self.cfg.to_dict())),
                 info=np.array(json.dumps(info or {})), **self.a)

    @classmethod
    def load(cls, folder: Path) -> SceneHead | None:
        path = Path(folder) / SCENE_HEAD_FILE
        if not path.exists():
            return None
        with np.load(path) as d:
            cfg = SceneHeadConfig(**json.loads(str(d["config"])))
            arrays = {k: d[k] for k in d.files if k not in ("config", "info")}
        return cls(cfg, arrays)
