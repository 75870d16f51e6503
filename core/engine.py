"""The recommendation engine: what a worker holds in memory to answer a turn.

``Engine`` ties the encoders, the trained retriever, the catalog index and the
explainer together behind three calls the conversation service makes:

- ``analyse_video(path)`` -> ``VideoAnalysis`` (decode + frame features + video facts; cached
  by the video's content hash so later turns never decode it again);
- ``recommend(video, preference=..., previous_track_id=..., filters=..., exclude=..., k=...)``
  -> ranked ``ScoredTrack`` list;
- ``explain(video, picks, preference)`` -> one ``Explanation`` per pick.

Models load lazily on first use and stay loaded for the life of the process.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.video_facts import VideoFacts


@dataclass
class TrackFilter:
    """Hard filters applied inside the index search (never by dropping results afterwards)."""

    instrumental_only: bool = False
    vocals_only: bool = False
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    bpm_min: float | None = None
    bpm_max: float | None = None
    # Set when a length bound was asked for relative to a heard pick ("longer", "shorter"):
    # that pick's length, so the reply can say what the bound is relative to. The bound
    # itself is min_duration_s / max_duration_s.
    longer_than_s: float | None = None
    shorter_than_s: float | None = None
    # The same for tempo ("faster", "slower"): the heard pick's bpm; the bound is bpm_min / bpm_max.
    faster_than_bpm: float | None = None
    slower_than_bpm: float | None = None

    def is_empty(self) -> bool:
        return self == TrackFilter()

    def describe(self) -> list[str]:
        """Human phrases for the reply ("instrumental only", "under 2:00", "longer than 3:20 (at least 6:00)",
        "110–130 bpm", "faster than 120 bpm (above 132 bpm)")."""
        out = []
        if self.instrumental_only:
            out.append("instrumental only")
        if self.vocals_only:
            out.append("with vocals")
        if self.min_duration_s is not None:
            out.append(f"longer than {_mmss(self.longer_than_s)} (at least {_mmss(self.min_duration_s)})"
                       if self.longer_than_s is not None else f"at least {_mmss(self.min_duration_s)}")
        if self.max_duration_s is not None:
            out.append(f"shorter than {_mmss(self.shorter_than_s)} (under {_mmss(self.max_duration_s)})"
                       if self.shorter_than_s is not None else f"under {_mmss(self.max_duration_s)}")
        tempo = None
        if self.bpm_min is not None and self.bpm_max is not None:
            tempo = f"{self.bpm_min:.0f}–{self.bpm_max:.0f} bpm"
        elif self.bpm_min is not None:
            tempo = f"above {self.bpm_min:.0f} bpm"
        elif self.bpm_max is not None:
            tempo = f"below {self.bpm_max:.0f} bpm"
        if tempo and self.faster_than_bpm is not None:
            tempo = f"faster than {self.faster_than_bpm:.0f} bpm ({tempo})"
        elif tempo and self.slower_than_bpm is not None:
            tempo = f"slower than {self.slower_than_bpm:.0f} bpm ({tempo})"
        if tempo:
            out.append(tempo)
        return out

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, False)}

    @classmethod
    def from_dict(cls, data: dict | None) -> TrackFilter:
        return cls(**(data or {}))


def _mmss(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


@dataclass
class VideoAnalysis:
    """What a turn needs from the video; saved as .npz keyed by content hash.

    frame_features: [T, D] float32 from the active profile's frame encoder.
    labels: the names of the confident content labels (those in ``facts.labels``).
    facts: the measured video facts (core.video_facts); None only for analyses made
    before facts existed.
    """

    content_hash: str
    duration_s: float
    frame_features: np.ndarray
    labels: list[str] = field(default_factory=list)
    encoder: str = ""
    facts: VideoFacts | None = None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        meta = {"content_hash": self.content_hash, "duration_s": self.duration_s, "labels": self.labels,
                "encoder": self.encoder, "facts": self.facts.to_dict() if self.facts else None}
        np.savez(tmp, frame_features=self.frame_features.astype(np.float32), meta=np.array(json.dumps(meta)))
        tmp.replace(path)  # atomic: a concurrent reader never sees half a file

    @classmethod
    def load(cls, path: Path) -> VideoAnalysis:
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            facts = meta.pop("facts", None)
            return cls(frame_features=data["frame_features"], facts=VideoFacts.from_dict(facts) if facts else None,
                       **meta)


@dataclass
class ScoredTrack:
    track_id: int
    score: float  # cosine similarity between the query and the track key, in [-1, 1]

    @property
    def match_percent(self) -> int:
        return int(round(max(0.0, min(1.0, (self.score + 1) / 2)) * 100))


@dataclass
class Explanation:
    text: str
    fallback: bool = False


class Engine:
    """The models one worker process holds: encoders, retriever + index, explainer.

    Everything loads lazily on first use and stays loaded. Not thread-safe: a worker
    process runs one job at a time (Celery ``--pool=solo`` or prefork).
    """

    def __init__(self, settings, database_url: str | None = None):
        self.settings = settings
        self.database_url = database_url  # the catalog's database (default: the configured one)
        self._encoders = None
        self._retriever = None
        self._index = None
        self._index_state = None
        self._desc = None
        self._descriptors_for = None
        self._explainer = None
        self._analyser = None
        self._scene = None  # the catalog in the scene head's space, per index state
        self._scene_for = None

    # --- lazy parts -------------------------------------------------------------------
    @property
    def encoders(self):
        if self._encoders is None:
            from core.encoders import load_encoders

            self._encoders = load_encoders(self.settings)
        return self._encoders

    @property
    def retriever(self):
        if self._retriever is None:
            from core.retriever.checkpoint import load_checkpoint

            self._retriever = load_checkpoint(self.settings, device=self.settings.torch_device())
        return self._retriever

    def _catalog_state(self) -> tuple:
        from sqlalchemy import func, select

        from core.db.models import Track
        from core.db.session import session_scope

        with session_scope(self.database_url) as s:
            return tuple(s.execute(select(func.count(Track.id), func.max(Track.id), func.max(Track.added_at))).one())

    @property
    def index(self):
        state = self._catalog_state()
        if self._index is None or state != self._index_state:
            from core.retriever.index import load_index

            self._index, _ = load_index(self.settings, self.retriever, self.encoders.text, self.encoders.music.name,
                                        self.database_url)
            self._index_state = state
        return self._index

    @property
    def analyser(self):
        if self._analyser is None:
            from core.retriever.video import VideoAnalyser

            self._analyser = VideoAnalyser(self.encoders.frames, self.settings)
        return self._analyser

    def warm_up(self) -> None:
        """Load every model now (workers call this before their first job is timed)."""
        _ = self.encoders, self.retriever, self.index, self.explainer

    # --- the three calls --------------------------------------------------------------
    def video_cache_path(self, content_hash: str) -> Path:
        return self.analyser.cache_path(content_hash)

    def analyse_video(self, path: Path, content_hash: str | None = None) -> VideoAnalysis:
        """Decode and encode a video (or read its cached analysis). Raises UserError for bad media."""
        return self.analyser.analyse(Path(path), content_hash)

    def recommend(self, video: VideoAnalysis, *, preference: str | None = None, previous_track_id: int | None = None,
                  filters: TrackFilter | None = None, exclude=(), k: int = 5) -> list[ScoredTrack]:
        """Top-k tracks for the video, refined by the preference text and the previous pick.

        Turn 1 (no words, no previous pick) ranks with the checkpoint's scene head when it
        has one (core.retriever.scene_head); later turns with the retriever and re-ranker.
        """
        if preference is None and previous_track_id is None and self.retriever.scene_head is not None:
            return self._scene_picks(video, k, filters or TrackFilter(), exclude)
        import torch

        from core.retriever.data import MAX_TEXT_TOKENS

        model = self.retriever.model
        device = next(model.parameters()).device
        cfg = model.cfg
        T = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
        frames = video.frame_features[: cfg.max_frames][None].astype(np.float32)
        inputs = dict(frames=T(frames), frame_mask=T(np.ones(frames.shape[:2], bool)), has_video=T(np.array([True])))
        text_dim, music_dim = cfg.text_dim, cfg.music_dim
        if preference:
            tf = self.encoders.text.encode([preference])
            n = min(int(tf.mask[0].sum()), MAX_TEXT_TOKENS)
            inputs.update(text=T(tf.tokens[:, :n]), text_mask=T(np.ones((1, n), bool)), has_text=T(np.array([True])))
        else:
            inputs.update(text=T(np.zeros((1, 1, text_dim), np.float32)), text_mask=T(np.zeros((1, 1), bool)),
                          has_text=T(np.array([False])))
        prev = self._previous_inputs(previous_track_id)
        with torch.no_grad():
            if prev is None:
                desc_dim = cfg.music_dim + cfg.scalar_dim + cfg.meta_dim
                inputs.update(prev_segments=T(np.zeros((1, 1, music_dim), np.float32)),
                              prev_seg_mask=T(np.ones((1, 1), bool)), prev_desc=T(np.zeros((1, desc_dim), np.float32)),
                              has_prev=T(np.array([False])))
            else:
                inputs.update(prev_segments=T(prev.segments), prev_seg_mask=T(prev.seg_mask),
                              prev_desc=model.descriptor(T(prev.pooled), T(prev.scalars), T(prev.meta)),
                              has_prev=T(np.array([True])))
            query = model.query(**inputs)[0].float().cpu().numpy()
        reranker = self.retriever.reranker
        if reranker is None or not preference or prev is None:
            return self.index.search(query, k, filters or TrackFilter(), exclude)
        # A refinement turn: re-score the retriever's top candidates against the words and
        # the previous pick (core.retriever.rerank); the shown score stays the cosine.
        from core.retriever.rerank import TrackInputs, mean_tokens, scale_of

        index = self.index
        cands = index.search(query, max(k, reranker.cfg.candidates), filters or TrackFilter(),
                             set(exclude) | {previous_track_id})
        descriptors = self._descriptors()
        if not cands or descriptors is None:
            return cands[:k]
        desc = descriptors.take([c.track_id for c in cands])
        with torch.no_grad():
            text = mean_tokens(inputs["text"], inputs["text_mask"])
            p = TrackInputs(T(prev.scalars), T(prev.meta), T(prev.pooled), T(prev.facts))
            c = TrackInputs(*(T(desc[part][None]) for part in ("scalars", "meta", "pooled", "facts")))
            base = T(np.array([[scale_of(model) * x.score for x in cands]], np.float32))
            order = np.argsort(-reranker(text, p, c, base)[0].float().cpu().numpy(), kind="stable")
        return [cands[i] for i in order[:k]]

    def _scene_picks(self, video: VideoAnalysis, k: int, filters: TrackFilter, exclude) -> list[ScoredTrack]:
        from core.retriever.scene_head import video_pace

        head = self.retriever.scene_head
        index = self.index
        music, drive = self._scene_music()
        pace = video_pace(video.facts)
        scores = head.score_videos([video], music, drive)[0]
        allowed = index.meta.allowed(filters, exclude)
        rows = np.flatnonzero(allowed)
        top = rows[np.argsort(-scores[rows], kind="stable")[:k]]
        # A score is a cosine plus the pace term: divided by its largest possible size it stays
        # in [-1, 1] like every other turn's, so a strong pace never reads as a "100 %" match.
        span = 1.0 + head.cfg.pace_weight * abs(pace) * float(np.abs(drive).max(initial=0.0))
        return [ScoredTrack(int(index.meta.ids[r]), float(scores[r]) / span) for r in top]

    def _scene_music(self) -> tuple[np.ndarray, np.ndarray]:
        """Every index row in the scene head's music space [N, km], and its drive [N]."""
        desc = self._descriptors()
        if self._scene_for != self._index_state or self._scene is None:
            p = desc.parts
            self._scene = self.retriever.scene_head.catalog(p["scalars"], p["pooled"], p["facts"])
            self._scene_for = self._index_state
        return self._scene

    def _descriptors(self):
        from core.retriever.index import load_descriptors

        if self._descriptors_for != self._index_state or self._desc is None:
            self._desc = load_descriptors(self.settings, self.retriever)
            self._descriptors_for = self._index_state
        return self._desc

    def _previous_inputs(self, track_id: int | None):
        if track_id is None:
            return None
        from core.catalog.store import FeatureStore
        from core.db.models import Track
        from core.db.session import session_scope
        from core.retriever.features import build_track_table

        with session_scope(self.database_url) as s:
            track = s.get(Track, track_id)
            if track is None:
                return None
            return build_track_table([track], self.retriever.vocab, FeatureStore(self.settings.catalog_dir),
                                     self.encoders.text)

    @property
    def explainer(self):
        if self._explainer is None:
            from core.explainer.service import load_explainer

            self._explainer = load_explainer(self.settings)
        return self._explainer

    def explain(self, video: VideoAnalysis, picks: list[ScoredTrack], preference: str | None = None
                ) -> list[Explanation]:
        """One checked explanation per pick, generated in one batch."""
        return self.explainer.explain_picks(video, picks, preference)
