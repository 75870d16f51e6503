"""Saving and loading trained retrievers: weights, config, tag vocabulary, manifest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from core.config import REPO_ROOT, Settings
from core.errors import WeightsMissing
from core.retriever.model import Retriever, RetrieverConfig
from core.retriever.rerank import Reranker, load_reranker, save_reranker
from core.retriever.scene_head import SCENE_HEAD_FILE, SceneHead

SHIPPED = {"offline": REPO_ROOT / "checkpoints" / "retriever-offline"}


@dataclass
class LoadedRetriever:
    model: Retriever
    vocab: list[str]
    manifest: dict
    path: Path
    checkpoint_id: str
    reranker: Reranker | None = None  # the refinement-turn re-ranker, when the checkpoint has one
    scene_head: SceneHead | None = None  # turn 1's scene head (core.retriever.scene_head), when it has one


def save_checkpoint(model: Retriever, vocab: list[str], manifest: dict, out: Path,
                    reranker: Reranker | None = None) -> str:
    """Write model.safetensors (float16), config.json, vocab.json, manifest.json (and the
    re-ranker's reranker.safetensors / reranker.json); return the id."""
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"))
    for stale in ("reranker.safetensors", "reranker.json", SCENE_HEAD_FILE):
        (out / stale).unlink(missing_ok=True)
    if reranker is not None:
        save_reranker(reranker, out)
    (out / "config.json").write_text(json.dumps(model.cfg.to_dict(), indent=2))
    (out / "vocab.json").write_text(json.dumps(vocab))
    cid = checkpoint_id(out)
    (out / "manifest.json").write_text(json.dumps({**manifest, "checkpoint_id": cid}, indent=2, sort_keys=True))
    return cid


def checkpoint_id(folder: Path) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()[:16]


def resolve_checkpoint(settings: Settings, path: Path | None = None) -> Path:
    folder = path or settings.retriever_checkpoint or SHIPPED.get(settings.profile)
    if folder is None or not (Path(folder) / "model.safetensors").exists():
        raise WeightsMissing(
            f"no trained retriever for profile {settings.profile!r} at {folder}: train one with "
            "`musechat train retriever --out DIR` and set MUSECHAT_RETRIEVER_CHECKPOINT=DIR")
    return Path(folder)


def load_checkpoint(settings: Settings, path: Path | None = None, device: str = "cpu",
                    reranker: bool = True) -> LoadedRetriever:
    """The retriever (and its re-ranker, unless ``reranker`` is False: when one is about to be trained)."""
    folder = resolve_checkpoint(settings, path)
    cfg = RetrieverConfig(**json.loads((folder / "config.json").read_text()))
    model = Retriever(cfg)
    state = {k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()}
    model.load_state_dict(state)
    manifest = json.loads((folder / "manifest.json").read_text())
    if manifest.get("profile") not in (None, settings.profile):
        raise WeightsMissing(f"retriever checkpoint {folder} was trained for profile {manifest.get('profile')!r}, "
                             f"but MUSECHAT_PROFILE is {settings.profile!r}")
    vocab = json.loads((folder / "vocab.json").read_text())
    head = SceneHead.load(folder)
    if head is not None and head.music_inputs != len(vocab) + 4 + cfg.music_dim:
        raise WeightsMissing(f"the scene head in {folder} was fitted for another tag vocabulary or music encoder: "
                             f"fit it again with `musechat train scene-head --checkpoint {folder}`")
    return LoadedRetriever(model.eval().to(device), vocab, manifest, folder, checkpoint_id(folder),
                           load_reranker(folder, device) if reranker else None, head)
