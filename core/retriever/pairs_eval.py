"""`musechat eval retrieval`: score the retriever (or a baseline) on video->music pairs.

PAIRS.jsonl holds one object per line: ``{"id", "video", "track"}`` plus optional
``"previous"`` (a track path) and ``"prompt"`` (a turn-2 preference); paths are relative
to the file's folder. The candidate pool is the configured catalog, or every audio
file under ``--catalog-dir`` (ingested into a temporary catalog; features are reused by
content hash from the configured catalog's store). Each true track must be in the pool
(matched by content hash).

A refinement turn (``prompt`` and ``previous``) ranks as a conversation does: the previous
pick is never offered again (ranked last), and a checkpoint with a re-ranker
(:mod:`core.retriever.rerank`) re-scores the retriever's top candidates.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from sqlalchemy import select

from core.catalog.ingest import file_hash
from core.catalog.store import FeatureStore
from core.config import Settings
from core.db.models import Track
from core.errors import MuseChatError
from core.explainer.facts import tempo_band
from core.retriever.evaluate import random_expectation, ranks_of_targets, summarize
from core.retriever.rerank import rerank_matrix, scale_of

BASELINES = ("random", "popularity", "video-only", "text-only")


class PairsError(MuseChatError):
    pass


def read_pairs(path: Path) -> list[dict]:
    root = path.parent
    pairs = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            p = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PairsError(f"{path}:{n}: not JSON ({exc.msg})") from None
        missing = {"id", "video", "track"} - set(p)
        if missing:
            raise PairsError(f"{path}:{n}: missing {', '.join(sorted(missing))}")
        for key in ("video", "track", "previous"):
            if p.get(key):
                p[key] = (root / p[key]).resolve()
                if not p[key].exists():
                    raise PairsError(f"{path}:{n}: {key} file not found: {p[key]}")
        pairs.append(p)
    if not pairs:
        raise PairsError(f"{path}: no pairs")
    return pairs


def _pool_tracks(settings: Settings, encoder_name: str, database_url: str | None) -> list[Track]:
    from core.db.session import session_scope

    store = FeatureStore(settings.catalog_dir)
    with session_scope(database_url) as s:
        tracks = s.scalars(select(Track).where(Track.embedding_version == encoder_name).order_by(Track.id)).all()
    return [t for t in tracks if store.path(t.content_hash).exists()]


def evaluate_pairs(settings: Settings, pairs_path: Path, *, catalog_dir: Path | None = None,
                   checkpoint: Path | None = None, baseline: str | None = None,
                   say: Callable[[str], None] = lambda m: None) -> dict:
    """The JSON result of the stable contract (see the module docstring)."""
    from core.catalog.ingest import find_audio, info_from_file, ingest
    from core.db import migrate
    from core.encoders import load_encoders
    from core.retriever.checkpoint import load_checkpoint
    from core.retriever.features import build_track_table
    from core.retriever.video import VideoAnalyser

    pairs = read_pairs(pairs_path)
    enc = load_encoders(settings)
    database_url = None
    tmp = None
    pool_settings = settings
    if catalog_dir is not None:
        tmp = tempfile.TemporaryDirectory(prefix="musechat-eval-")
        database_url = f"sqlite:///{tmp.name}/pool.db"
        migrate.upgrade(database_url)
        # Same feature store as the configured catalog: features are content-addressed.
        files = find_audio(catalog_dir)
        say(f"ingesting {len(files)} audio files from {catalog_dir}…")
        report = ingest([info_from_file(f) for f in files], enc.music, settings, database_url=database_url)
        for path, reason in report.failed:
            say(f"skipped {path}: {reason}")
    tracks = _pool_tracks(pool_settings, enc.music.name, database_url)
    if not tracks:
        raise PairsError("the candidate pool is empty: build the catalog or pass --catalog-dir")
    device = settings.torch_device()
    loaded = load_checkpoint(settings, checkpoint, device=device) if baseline not in ("random", "popularity", "text-only") else None
    vocab = loaded.vocab if loaded else []
    table = build_track_table(tracks, vocab, FeatureStore(settings.catalog_dir), enc.text)
    row_of = {h: i for i, h in enumerate(table.hashes)}

    def row(path: Path, what: str, pair_id: str) -> int:
        h = file_hash(path)
        if h not in row_of:
            raise PairsError(f"pair {pair_id}: {what} {path} is not in the candidate pool (matched by content hash)")
        return row_of[h]

    targets = np.array([row(p["track"], "track", p["id"]) for p in pairs])
    prompts = [p.get("prompt") or None for p in pairs]
    previous = [row(p["previous"], "previous track", p["id"]) if p.get("previous") else None for p in pairs]
    has_turn2 = [pr is not None for pr in prompts]
    rng = np.random.default_rng(0)
    n = len(tracks)

    if baseline == "random":
        s1 = rng.random((len(pairs), n))
        s2 = rng.random((len(pairs), n))
    elif baseline == "popularity":
        pop = _popularity(settings, table.hashes)
        tie = rng.random(n) * 1e-3  # seeded tie-break, not the pessimistic worst case
        s1 = np.tile(pop + tie, (len(pairs), 1))
        s2 = s1.copy()
    elif baseline == "text-only":
        desc = [_track_text(t) for t in tracks]
        d = np.concatenate([enc.text.encode(desc[i:i + 128]).pooled for i in range(0, n, 128)])
        s1 = rng.random((len(pairs), n))  # no words on turn 1: nothing to go on
        s2 = np.stack([enc.text.encode([pr]).pooled[0] @ d.T if pr else rng.random(n) for pr in prompts])
    else:
        model = loaded.model
        analyser = VideoAnalyser(enc.frames, settings)
        say(f"analysing {len(pairs)} videos…")
        analyses = [analyser.analyse(p["video"]) for p in pairs]
        videos = [a.frame_features for a in analyses]
        from core.retriever.data import Example, FeatureBank

        bank = FeatureBank(enc.frames.dim, enc.text.dim, max_frames=settings.num_frames)
        for p, v in zip(pairs, videos):
            bank.videos[str(p["video"])] = v
        bank.add_texts(enc.text, [pr for pr in prompts if pr])
        with torch.no_grad():
            T = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
            keys = model.keys(T(table.pooled), T(table.scalars), T(table.meta)).float().cpu().numpy()
            video_only = baseline == "video-only"
            ex1 = [Example(str(p["video"]), None, None, int(t)) for p, t in zip(pairs, targets)]
            ex2 = [Example(str(p["video"]), None if video_only else pr, None if video_only else pv, int(t))
                   for p, pr, pv, t in zip(pairs, prompts, previous, targets)]
            # In chunks: one forward pass over thousands of pairs holds every activation at once.
            def queries(examples: list) -> np.ndarray:
                return np.concatenate([model.query(**bank.collate(examples[i:i + 256], table, model, device))
                                       .float().cpu().numpy() for i in range(0, len(examples), 256)])

            q1, q2 = queries(ex1), queries(ex2)
        scale = scale_of(model)
        s1, s2 = scale * (q1 @ keys.T), scale * (q2 @ keys.T)
        if loaded.scene_head is not None and baseline is None:  # turn 1 as a conversation runs it
            head = loaded.scene_head
            s1 = head.score_videos(analyses, *head.catalog(table.scalars, table.pooled, table.facts))
        idx = [i for i, (pr, pv) in enumerate(zip(prompts, previous)) if pr and pv is not None]
        if idx and not video_only:
            prev_rows = np.array([previous[i] for i in idx])
            if loaded.reranker is not None:  # the refinement turn as a conversation runs it
                for c in range(0, len(idx), 256):  # candidates x inputs of every pair at once is GBs
                    part = idx[c:c + 256]
                    s2[part] = rerank_matrix(loaded.reranker, s2[part], bank.pooled_texts([prompts[i] for i in part]),
                                             prev_rows[c:c + 256], table)
            else:
                s2[idx, prev_rows] = -np.inf

    if baseline in ("random", "popularity", "text-only"):  # a refinement never offers its previous pick again
        for i, pv in enumerate(previous):
            if prompts[i] and pv is not None:
                s2[i, pv] = -np.inf
    r1 = ranks_of_targets(s1, targets)
    r2 = ranks_of_targets(s2, targets)
    result = {"pool_size": n, "n": len(pairs), "turn1": summarize(r1)}
    idx2 = np.flatnonzero(has_turn2)
    if len(idx2):
        result["turn2"] = summarize(r2[idx2])
    last = np.where(has_turn2, r2, r1)
    result["SR@10"] = round(float((last <= 10).mean()), 4)
    result["random"] = random_expectation(n)
    result["tracks_in_pairs"] = len(set(targets.tolist()))
    if baseline:
        result["baseline"] = baseline
    elif loaded is not None:
        result["checkpoint"] = loaded.checkpoint_id
        result["reranker"] = loaded.reranker is not None and baseline != "video-only"
        result["scene_head"] = loaded.scene_head is not None
    if tmp is not None:
        tmp.cleanup()
    return result


def _track_text(t: Track) -> str:
    from core.catalog.analysis import top_tags

    words = top_tags(t.tags or {}, k=8)
    if t.vocal_prob is not None:
        words.append("with vocals" if t.vocal_prob >= 0.5 else "instrumental, no vocals")
    if t.tempo_bpm:
        words.append({"slow": "slow", "moderate": "medium tempo", "fast": "fast"}[tempo_band(t.tempo_bpm)])
    return f"{t.title} by {t.artist or 'unknown'}: " + ", ".join(words)


def _popularity(settings: Settings, hashes: list[str]) -> np.ndarray:
    """How often each track is the wanted track or the first pick in the training conversations."""
    counts: Counter[str] = Counter()
    path = settings.data_dir / "datasets" / "conversations" / "train.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                c = json.loads(line)
                counts[c.get("target")] += 1
                counts[c.get("turn1_pick")] += 1
    return np.array([counts.get(h, 0) for h in hashes], np.float64)
