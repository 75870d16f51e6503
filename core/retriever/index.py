"""The catalog's search index of music-tower keys, kept in step with SQL and the checkpoint.

Keys depend on the trained music tower, so the index is built per checkpoint and
rebuilt when the catalog's tracks or the checkpoint change (detected from a manifest).
"""

from __future__ import annotations

import hashlib
import logging
import shutil

import numpy as np
import torch

from core.catalog.index import TrackMeta, VectorIndex
from core.catalog.store import FeatureStore
from core.config import Settings
from core.retriever.checkpoint import LoadedRetriever, load_checkpoint
from core.retriever.features import TrackTable, build_track_table

log = logging.getLogger(__name__)


def _fingerprint(tracks) -> str:
    h = hashlib.sha256()
    for t in tracks:
        h.update(f"{t.id}:{t.content_hash}:{t.vocal_prob}:{t.tempo_bpm}:{t.duration_s};".encode())
    return h.hexdigest()[:16]


def _folder(settings: Settings, retriever: LoadedRetriever):
    return settings.catalog_dir / "index" / retriever.checkpoint_id


def build_index(settings: Settings, retriever: LoadedRetriever, text_encoder, music_version: str,
                database_url: str | None = None) -> tuple[VectorIndex, TrackTable]:
    """Compute keys for every catalog track and save a fresh index."""
    from core.retriever.train import catalog_tracks

    tracks = catalog_tracks(settings, music_version, database_url)
    table = build_track_table(tracks, retriever.vocab, FeatureStore(settings.catalog_dir), text_encoder)
    model = retriever.model
    device = next(model.parameters()).device
    with torch.no_grad():
        T = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
        keys = model.keys(T(table.pooled), T(table.scalars), T(table.meta)).float().cpu().numpy() if len(table) \
            else np.zeros((0, model.cfg.joint_dim), np.float32)
    meta = TrackMeta(table.ids, table.vocal_prob, table.duration_s, table.tempo_bpm)
    index = VectorIndex(keys, meta)
    folder = _folder(settings, retriever)
    if folder.exists():
        shutil.rmtree(folder)
    index.save(folder, {"checkpoint_id": retriever.checkpoint_id, "tracks": _fingerprint(tracks),
                        "count": len(tracks), "music_encoder": music_version})
    save_descriptors(folder, table)
    return index, table


_DESCRIPTOR_PARTS = ("scalars", "meta", "pooled", "facts")


def save_descriptors(folder, table: TrackTable) -> None:
    """The re-ranker's inputs per index row (.npy files, read memory-mapped; float16 but the facts)."""
    d = folder / "descriptors"
    d.mkdir(parents=True, exist_ok=True)
    for part in _DESCRIPTOR_PARTS:
        np.save(d / f"{part}.npy", getattr(table, part).astype(np.float32 if part == "facts" else np.float16))
    np.save(d / "ids.npy", table.ids)


class Descriptors:
    """Memory-mapped track descriptors of an index, looked up by track id."""

    def __init__(self, folder):
        d = folder / "descriptors"
        self.parts = {p: np.load(d / f"{p}.npy", mmap_mode="r") for p in _DESCRIPTOR_PARTS}
        self.row = {int(i): r for r, i in enumerate(np.load(d / "ids.npy"))}

    @staticmethod
    def exist(folder) -> bool:
        return all((folder / "descriptors" / f"{p}.npy").exists() for p in (*_DESCRIPTOR_PARTS, "ids"))

    def take(self, track_ids) -> dict[str, np.ndarray]:
        rows = np.array([self.row[int(i)] for i in track_ids], dtype=np.int64)
        return {p: np.asarray(a[rows], dtype=np.float32) for p, a in self.parts.items()}


def load_descriptors(settings: Settings, retriever: LoadedRetriever) -> Descriptors | None:
    folder = _folder(settings, retriever)
    return Descriptors(folder) if Descriptors.exist(folder) else None


def load_index(settings: Settings, retriever: LoadedRetriever, text_encoder, music_version: str,
               database_url: str | None = None) -> tuple[VectorIndex, bool]:
    """The saved index if it matches the catalog and checkpoint, else a rebuilt one; (index, rebuilt)."""
    from core.retriever.train import catalog_tracks

    folder = _folder(settings, retriever)
    if (folder / "manifest.json").exists() and Descriptors.exist(folder):
        index, manifest = VectorIndex.load(folder)
        if manifest.get("tracks") == _fingerprint(catalog_tracks(settings, music_version, database_url)):
            return index, False
        log.info("catalog changed since the index was built: re-indexing")
    index, _ = build_index(settings, retriever, text_encoder, music_version, database_url)
    return index, True


def ensure_index(settings: Settings) -> str:
    """Build or refresh the index for the configured checkpoint; a line saying what happened."""
    from core.encoders import load_encoders
    from core.errors import WeightsMissing

    try:
        retriever = load_checkpoint(settings)
    except WeightsMissing as exc:
        return f"search index not built: {exc}"
    enc = load_encoders(settings, parts=("text", "music"))
    index, rebuilt = load_index(settings, retriever, enc.text, enc.music.name)
    state = "rebuilt" if rebuilt else "up to date"
    return f"search index {state}: {len(index)} tracks ({index.kind}), checkpoint {retriever.checkpoint_id}"
