"""Training the retriever on synthesised conversations and real scene clips.

``musechat train retriever`` calls :func:`train`. CPU default: a few minutes on 2
cores; on a GPU it uses bf16 autocast. Resumable: ``last.pt`` is written each epoch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from sqlalchemy import select

from core.catalog.store import FeatureStore
from core.config import Settings
from core.db.models import Track
from core.db.session import session_scope
from core.files import manifest_path
from core.retriever.checkpoint import save_checkpoint
from core.retriever.data import Example, FeatureBank, examples_from_conversations, read_conversations, unique_target_batches
from core.retriever.evaluate import ranks_of_targets, summarize
from core.retriever.facts import FACT_KEYS, mood_scale
from core.retriever.features import TrackTable, build_track_table, tag_vocabulary
from core.retriever.model import Retriever, RetrieverConfig
from core.retriever.rerank import Reranker, RerankerConfig, TrackInputs, rerank_matrix, scale_of
from core.retriever.video import VideoAnalyser

log = logging.getLogger(__name__)


REPRODUCE = (
    "musechat catalog demo && musechat data scenes && "
    "musechat catalog add DATA_DIR/datasets/scenes/supertux/music --source supertux-data && "
    "musechat data hedgewars && "
    # the retriever on 20 conversations per track, the re-ranker on the default 80
    "musechat data synth --per-track 20 --out DATA_DIR/datasets/conversations-20 && "
    "musechat train retriever --config checkpoints/retriever-offline.json "
    "--conversations DATA_DIR/datasets/conversations-20 --out DIR && "
    "musechat data synth && "
    "musechat train reranker --config checkpoints/retriever-offline.json --checkpoint DIR")


@dataclass
class TrainConfig:
    epochs: int = 40
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 0.05
    seed: int = 0
    hidden: int = 256
    joint_dim: int = 256
    dropout: float = 0.1
    input_dropout: float = 0.0
    fusion: str = "xattn"
    use_text: bool = True
    use_previous: bool = True
    conversations: str | None = None  # folder with train/val/test.jsonl (default DATA_DIR/datasets/conversations)
    threads: int = 0
    # The refinement-turn re-ranker (core.retriever.rerank), trained after the retriever.
    rerank: bool = True
    rerank_epochs: int = 8
    rerank_hidden: int = 128
    rerank_lr: float = 1e-3
    rerank_candidates: int = 1000
    # Weight of the loss that teaches the re-ranker which facts a preference states.
    rerank_stated_weight: float = 1.0

    @classmethod
    def from_file(cls, path: Path | None, **overrides) -> TrainConfig:
        data = json.loads(path.read_text()) if path else {}
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)


@dataclass
class Prepared:
    """Everything loaded once: tracks, features, examples (shared by training and ablations)."""

    table: TrackTable
    vocab: list[str]
    bank: FeatureBank
    train: list[Example]
    val: list[Example]
    test: list[Example]
    encoders: dict[str, str]
    dims: dict[str, int]
    data: dict = field(default_factory=dict)


def catalog_tracks(settings: Settings, music_version: str, database_url: str | None = None) -> list[Track]:
    """Catalog tracks embedded by ``music_version`` whose features are on disk, by id."""
    store = FeatureStore(settings.catalog_dir)
    with session_scope(database_url) as s:
        tracks = s.scalars(select(Track).where(Track.embedding_version == music_version).order_by(Track.id)).all()
    return [t for t in tracks if store.path(t.content_hash).exists()]


def prepare(settings: Settings, conv_dir: Path, say: Callable[[str], None] = print) -> Prepared:
    from core.encoders import load_encoders

    say("loading encoders…")
    enc = load_encoders(settings)
    tracks = catalog_tracks(settings, enc.music.name)
    if len(tracks) < 10:
        raise SystemExit(f"the catalog has {len(tracks)} tracks for {enc.music.name}; build it first "
                         "(`musechat catalog demo`)")
    vocab = tag_vocabulary(tracks)
    say(f"{len(tracks)} catalog tracks; embedding their metadata…")
    table = build_track_table(tracks, vocab, FeatureStore(settings.catalog_dir), enc.text)
    splits = {s: read_conversations(conv_dir / f"{s}.jsonl") for s in ("train", "val", "test")}
    # Conversations without a scene are shown with the dataset's neutral clip, exactly as
    # its test_pairs.jsonl shows them to `musechat eval retrieval` (a user's turn always
    # has some video; an absent-video token would never be seen outside training).
    neutral = conv_dir / "neutral.mp4"
    if neutral.exists():
        for convs in splits.values():
            for c in convs:
                c["video"] = c.get("video") or str(neutral)
    bank = FeatureBank(enc.frames.dim, enc.text.dim, max_frames=settings.num_frames)
    videos = sorted({c["video"] for convs in splits.values() for c in convs if c.get("video")})
    analyser = VideoAnalyser(enc.frames, settings)
    say(f"analysing {len(videos)} scene clips…")
    for i, v in enumerate(videos):
        bank.videos[v] = analyser.analyse(Path(v)).frame_features
        if (i + 1) % 50 == 0:
            say(f"  {i + 1}/{len(videos)} clips")
    texts = [c["preference"] for convs in splits.values() for c in convs]
    say(f"encoding {len(set(texts))} preference texts…")
    bank.add_texts(enc.text, texts)
    digest = hashlib.sha256(b"".join((conv_dir / f"{s}.jsonl").read_bytes() for s in splits)).hexdigest()[:16]
    return Prepared(
        table=table, vocab=vocab, bank=bank,
        train=examples_from_conversations(splits["train"], table),
        val=examples_from_conversations(splits["val"], table),
        test=examples_from_conversations(splits["test"], table),
        encoders={"frames": enc.frames.name, "text": enc.text.name, "music": enc.music.name},
        dims={"frame_dim": enc.frames.dim, "text_dim": enc.text.dim, "music_dim": enc.music.dim},
        data={"conversations": manifest_path(conv_dir, settings), "sha256": digest,
              "conversations_per_split": {k: len(v) for k, v in splits.items()},
              "scene_clips": len(videos), "catalog_tracks": len(tracks)},
    )


def _device(settings: Settings) -> str:
    return settings.torch_device()


@torch.no_grad()
def evaluate_examples(model: Retriever, prep: Prepared, examples: list[Example], device: str,
                      batch: int = 256, reranker: Reranker | None = None) -> dict[str, dict[str, float]]:
    """Metrics per turn kind over the whole catalog as the candidate pool.

    A refinement turn never offers its previous pick again, so that track is ranked last;
    with ``reranker`` its top candidates are re-scored as in a live conversation.
    """
    model.eval()
    t = prep.table
    T = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
    keys = model.keys(T(t.pooled), T(t.scalars), T(t.meta)).float().cpu().numpy()
    scale = scale_of(model)
    out = {}
    for kind, subset in (("turn1", [e for e in examples if e.text is None]),
                         ("turn2", [e for e in examples if e.text is not None])):
        if not subset:
            continue
        ranks = []
        for i in range(0, len(subset), batch):
            chunk = subset[i:i + batch]
            q = model.query(**prep.bank.collate(chunk, t, model, device)).float().cpu().numpy()
            scores = scale * (q @ keys.T)
            if kind == "turn2":
                prev = np.array([e.previous for e in chunk])
                if reranker is not None:
                    scores = rerank_matrix(reranker, scores, prep.bank.pooled_texts([e.text for e in chunk]), prev, t)
                else:
                    scores[np.arange(len(chunk)), prev] = -np.inf
            ranks.append(ranks_of_targets(scores, np.array([e.target for e in chunk])))
        out[kind] = summarize(np.concatenate(ranks))
    out["pool_size"] = len(t)
    return out


def train_reranker(model: Retriever, prep: Prepared, cfg: TrainConfig, device: str,
                   say: Callable[[str], None] = print, show_progress: bool = True) -> tuple[Reranker, dict]:
    """Fit the refinement-turn re-ranker on the training conversations; keep the best epoch on
    validation, then choose the weight of the retriever's score on validation too."""
    t = prep.table
    rcfg = RerankerConfig(text_dim=t.meta.shape[1], scalar_dim=t.scalars.shape[1], meta_dim=t.meta.shape[1],
                          music_dim=t.pooled.shape[1], hidden=cfg.rerank_hidden, dropout=cfg.dropout,
                          candidates=cfg.rerank_candidates, retriever_weight=0.0)
    torch.manual_seed(cfg.seed + 1)
    reranker = Reranker(rcfg).to(device)
    train_rows = sorted({e.target for e in prep.train})
    reranker.audio_mean.copy_(torch.from_numpy(t.pooled[train_rows].mean(0)))
    reranker.mood_scale.copy_(torch.from_numpy(mood_scale(t.facts)))
    examples = [e for e in prep.train if e.text is not None and e.previous is not None]
    if not examples:
        raise SystemExit("no refinement turns in the training conversations: run `musechat data synth`")
    # Every training track is a candidate for every example (the previous pick among them: the
    # user turned it down), so the re-ranker learns from the whole training catalog at once.
    cand_rows = np.array(sorted({e.target for e in examples} | {e.previous for e in examples}))
    col = {r: i for i, r in enumerate(cand_rows)}
    cand = TrackInputs.from_table(t, cand_rows, device)
    opt = torch.optim.AdamW(reranker.parameters(), lr=cfg.rerank_lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed + 1)
    bs = cfg.batch_size
    steps = cfg.rerank_epochs * math.ceil(len(examples) / bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.rerank_lr, total_steps=steps + 1, pct_start=0.1)
    progress = _bar(steps, 0) if show_progress else None
    best, best_state, history = -1.0, None, []
    # The retriever is fixed now: score the validation turns once.
    val = [e for e in prep.val if e.text is not None and e.previous is not None]
    with torch.no_grad():
        keys = model.keys(*(torch.from_numpy(a).to(device) for a in (t.pooled, t.scalars, t.meta))).float().cpu().numpy()
        val_scores = np.concatenate([
            scale_of(model) * (model.query(**prep.bank.collate(val[i:i + 256], t, model, device)).float().cpu().numpy()
                               @ keys.T) for i in range(0, len(val), 256)])
    val_text = prep.bank.pooled_texts([e.text for e in val])
    val_prev, val_target = np.array([e.previous for e in val]), np.array([e.target for e in val])

    def val_r10() -> float:
        ranks = ranks_of_targets(rerank_matrix(reranker, val_scores, val_text, val_prev, t), val_target)
        return summarize(ranks)["R@10"]

    for epoch in range(cfg.rerank_epochs):
        reranker.train()
        order = rng.permutation(len(examples))
        losses = []
        for i in range(0, len(order), bs):
            chunk = [examples[j] for j in order[i:i + bs]]
            text = prep.bank.pooled_texts([e.text for e in chunk]).to(device)
            prev = TrackInputs.from_table(t, np.array([e.previous for e in chunk]), device)
            scores = reranker(text, prev, cand)
            loss = F.cross_entropy(scores, torch.tensor([col[e.target] for e in chunk], device=device))
            if cfg.rerank_stated_weight:
                # Where the data says which facts a preference states, read them from the words too.
                known = [i for i, e in enumerate(chunk) if e.stated]
                if known:
                    stated = torch.zeros(len(known), len(FACT_KEYS), device=device)
                    for r, i in enumerate(known):
                        stated[r, list(chunk[i].stated)] = 1.0
                    loss = loss + cfg.rerank_stated_weight * F.binary_cross_entropy_with_logits(
                        reranker.ask(text[known]), stated)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            if progress:
                progress.update(1, f"re-ranker epoch {epoch + 1}/{cfg.rerank_epochs} loss {np.mean(losses[-20:]):.3f}")
        reranker.eval()
        r10 = val_r10()
        history.append({"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4), "val_turn2_R@10": r10})
        if r10 > best:
            best, best_state = r10, {k: v.detach().clone() for k, v in reranker.state_dict().items()}
    if progress:
        progress.close()
    reranker.load_state_dict(best_state)
    reranker.eval()
    weights = {}
    for w in (0.0, 0.05, 0.1, 0.2, 0.4):
        reranker.cfg.retriever_weight = w
        weights[w] = val_r10()
    reranker.cfg.retriever_weight = max(weights, key=lambda w: (weights[w], -w))
    val_scores[np.arange(len(val)), val_prev] = -np.inf
    alone = summarize(ranks_of_targets(val_scores, val_target))["R@10"]
    say(f"re-ranker: validation turn-2 R@10 {weights[reranker.cfg.retriever_weight]:.3f} "
        f"(retriever weight {reranker.cfg.retriever_weight}; retriever alone {alone:.3f})")
    return reranker, {"history": history, "retriever_weight_on_val": {str(k): v for k, v in weights.items()}}


def train(settings: Settings, cfg: TrainConfig, out: Path, *, prep: Prepared | None = None,
          resume: bool = False, say: Callable[[str], None] = print, show_progress: bool = True) -> dict:
    """Train, keep the best epoch by validation, save a checkpoint in ``out``; return the manifest."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    conv_dir = Path(cfg.conversations) if cfg.conversations else settings.data_dir / "datasets" / "conversations"
    prep = prep or prepare(settings, conv_dir, say)
    device = _device(settings)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    mcfg = RetrieverConfig(**prep.dims, scalar_dim=prep.table.scalars.shape[1], meta_dim=prep.table.meta.shape[1],
                           joint_dim=cfg.joint_dim, hidden=cfg.hidden, dropout=cfg.dropout,
                           input_dropout=cfg.input_dropout, fusion=cfg.fusion,
                           use_text=cfg.use_text, use_previous=cfg.use_previous, max_frames=max(32, settings.num_frames))
    model = Retriever(mcfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_batches = len(unique_target_batches(prep.train, cfg.batch_size, np.random.default_rng(0)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(1, cfg.epochs * n_batches + 10),
                                                pct_start=0.1)
    start_epoch, best, best_state = 0, -1.0, None
    out.mkdir(parents=True, exist_ok=True)
    last = out / "last.pt"
    if resume and last.exists():
        state = torch.load(last, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start_epoch, best, best_state = state["epoch"] + 1, state["best"], state["best_state"]
        rng = np.random.default_rng(cfg.seed + start_epoch)
        say(f"resuming after epoch {start_epoch}")
    t = prep.table
    T = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else _null()
    started = time.perf_counter()
    history = []
    progress = _bar(cfg.epochs * n_batches, start_epoch * n_batches) if show_progress else None
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        losses = []
        for batch in unique_target_batches(prep.train, cfg.batch_size, rng):
            tgt = np.array([e.target for e in batch])
            prev = np.array([e.previous if e.previous is not None else 0 for e in batch])
            has_prev = torch.tensor([e.previous is not None for e in batch], device=device)
            with amp:
                q = model.query(**prep.bank.collate(batch, t, model, device))
                k = model.keys(T(t.pooled[tgt]), T(t.scalars[tgt]), T(t.meta[tgt]))
                pk = model.keys(T(t.pooled[prev]), T(t.scalars[prev]), T(t.meta[prev]))
                loss = model.loss(q.float(), k.float(), pk.float(), has_prev)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
            if progress:
                progress.update(1, f"epoch {epoch + 1}/{cfg.epochs} loss {np.mean(losses[-20:]):.3f}")
        metrics = evaluate_examples(model, prep, prep.val, device)
        score = metrics.get("turn2", {}).get("R@10", 0.0) + metrics.get("turn1", {}).get("R@10", 0.0)
        history.append({"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4), "val": metrics})
        if score > best:
            best, best_state = score, {k: v.detach().clone() for k, v in model.state_dict().items()}
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "epoch": epoch, "best": best, "best_state": best_state}, last)
    if progress:
        progress.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    reranker, rerank_info = None, None
    if cfg.rerank and cfg.use_text:
        say("training the refinement-turn re-ranker…")
        reranker, rerank_info = train_reranker(model, prep, cfg, device, say, show_progress)
    final = {"val": evaluate_examples(model, prep, prep.val, device, reranker=reranker),
             "test": evaluate_examples(model, prep, prep.test, device, reranker=reranker)}
    if reranker is not None:
        final["test_without_reranker"] = evaluate_examples(model, prep, prep.test, device)
    manifest = {
        "profile": settings.profile, "encoders": prep.encoders, "dims": {**prep.dims, "joint_dim": mcfg.joint_dim},
        "train_config": asdict(cfg), "data": prep.data, "metrics": final,
        "history": history[-5:], "train_seconds": round(time.perf_counter() - started, 1),
        "device": device,
        "reproduce": REPRODUCE,
    }
    if reranker is not None:
        manifest["reranker"] = {"config": reranker.cfg.to_dict(), **rerank_info}
    save_checkpoint(model, prep.vocab, manifest, out, reranker=reranker)
    last.unlink(missing_ok=True)
    return manifest


def ablation_configs(cfg: TrainConfig) -> dict[str, TrainConfig]:
    """The full model and the retriever ablations. Ablations train no re-ranker (it reads the
    words and the previous pick): compare them with the full model's ``test_without_reranker``."""
    bare = replace(cfg, rerank=False)
    return {"full": cfg, "no_text": replace(bare, use_text=False), "no_previous": replace(bare, use_previous=False),
            "concat_fusion": replace(bare, fusion="concat")}


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


class _bar:
    """A tqdm bar on stderr (quiet when not a terminal)."""

    def __init__(self, total: int, initial: int):
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, mininterval=1.0)

    def update(self, n: int, desc: str) -> None:
        self.bar.set_description(desc, refresh=False)
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


def retrain_reranker(settings: Settings, checkpoint: Path, cfg: TrainConfig, *, prep: Prepared | None = None,
                     say: Callable[[str], None] = print, show_progress: bool = True) -> dict:
    """Train a new re-ranker for an existing retriever checkpoint (in place) on ``cfg``'s
    conversations; the retriever's weights, and so its search index, stay as they are."""
    from core.retriever.checkpoint import load_checkpoint
    from core.retriever.rerank import save_reranker

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    conv_dir = Path(cfg.conversations) if cfg.conversations else settings.data_dir / "datasets" / "conversations"
    prep = prep or prepare(settings, conv_dir, say)
    device = _device(settings)
    loaded = load_checkpoint(settings, checkpoint, device=device, reranker=False)
    if loaded.vocab != prep.vocab:
        raise SystemExit("the catalog's tag vocabulary differs from the checkpoint's: retrain the retriever")
    reranker, info = train_reranker(loaded.model, prep, cfg, device, say, show_progress)
    manifest = dict(loaded.manifest)
    manifest["reranker"] = {"config": reranker.cfg.to_dict(), **info, "train_config": asdict(cfg), "data": prep.data,
                            "retrained": "musechat train reranker --checkpoint DIR"}
    manifest["metrics"] = {**manifest.get("metrics", {}),
                           "val": evaluate_examples(loaded.model, prep, prep.val, device, reranker=reranker),
                           "test": evaluate_examples(loaded.model, prep, prep.test, device, reranker=reranker),
                           "test_without_reranker": evaluate_examples(loaded.model, prep, prep.test, device)}
    save_reranker(reranker, loaded.path)
    (loaded.path / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest
