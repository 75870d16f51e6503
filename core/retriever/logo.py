"""Leave-one-game-out (LOGO) evaluation of turn 1 on designer-made scene -> music pairs.

For each game: every setting of the scene head (:mod:`core.retriever.scene_head`) is
scored by LOGO *among the other games only* (fit on all training games but one, rank
that one, macro-average R@10), the best setting is fitted on all training games, and
turn 1 is ranked for the held-out game's pairs against the whole catalog. The numbers
reported for a game never influenced any choice made for it.

Reference rows, each chosen the same way where they have settings:

- **random**: the expectation of a random ranking of the pool;
- **same-game prior**: that game's tracks first, in random order (its expectation);
- **video facts only**: the scene head on the video facts alone (no frame features);
- **transformer**: the retriever's query tower trained on the same pairs (turn 1 only,
  the shipped retriever's sizes, regularisation and 10 epochs), when asked for.

Pairs come from ``DATA_DIR/datasets/hedgewars/pairs.jsonl`` and
``DATA_DIR/datasets/scenes/<game>/pairs.jsonl`` (``musechat data hedgewars``,
``musechat data scenes``); every pair's track must be in the catalog (matched by content hash).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from core.config import Settings
from core.retriever.evaluate import random_expectation, ranks_of_targets, summarize
from core.retriever.scene_head import (Basis, SceneHead, SceneHeadConfig, basis, music_descriptor, track_drive,
                                       video_inputs, video_pace)

Say = Callable[[str], None]

# The settings LOGO chooses among (inner folds, training games only).
GRID = [SceneHeadConfig(video_dims=v, music_dims=m, ridge=r, use_facts=f)
        for v, m, r, f in itertools.product((8, 16, 32, 64), (8, 16, 32), (1.0, 10.0, 100.0), (True, False))]
FACTS_ONLY_GRID = [SceneHeadConfig(video_dims=0, music_dims=m, ridge=r, use_facts=True, use_frames=False)
                   for m, r in itertools.product((8, 16, 32), (1.0, 10.0, 100.0))]


@dataclass(eq=False)
class GamePairs:
    """One game's pairs as arrays: mean frame features [n, Df], facts [n, F], pace [n], target rows [n]."""

    game: str
    ids: list[str]
    frames: np.ndarray
    facts: np.ndarray
    pace: np.ndarray
    targets: np.ndarray
    tracks: set[int]  # catalog rows of this game's music (for the same-game prior)
    missing: int = 0  # pairs whose track is not in the catalog (left out)
    sequences: list[np.ndarray] | None = None  # frame features [T, Df] per pair (the transformer's input)
    sources: list[dict] | None = None  # per pair: the package file that pairs the scene with its music


@dataclass
class Catalog:
    """The pool: raw music descriptors [N, Dmusic], drive [N], ids and content hashes."""

    music: np.ndarray
    drive: np.ndarray
    ids: np.ndarray
    hashes: list[str]
    sources: list[str]
    tempo: np.ndarray  # [N] reconciled BPM, NaN = unknown (the pace check's catalog facts)
    energy: np.ndarray  # [N] tag-based energy (core.retriever.facts.fact_basis)
    table: object = None  # the TrackTable (the transformer's music tower inputs)


def discover_pairs(settings: Settings) -> dict[str, Path]:
    """{game: pairs.jsonl} for every game with pairs under DATA_DIR/datasets."""
    root = settings.data_dir / "datasets"
    found = {}
    if (root / "hedgewars" / "pairs.jsonl").exists():
        found["hedgewars"] = root / "hedgewars" / "pairs.jsonl"
    for p in sorted((root / "scenes").glob("*/pairs.jsonl")):
        found[p.parent.name] = p
    return found


def load_catalog(settings: Settings, database_url: str | None = None) -> Catalog:
    from core.catalog.store import FeatureStore
    from core.encoders import load_encoders
    from core.retriever.checkpoint import load_checkpoint
    from core.retriever.features import build_track_table
    from core.retriever.train import catalog_tracks

    enc = load_encoders(settings, parts=("text", "music"))
    vocab = load_checkpoint(settings).vocab
    tracks = catalog_tracks(settings, enc.music.name, database_url)
    table = build_track_table(tracks, vocab, FeatureStore(settings.catalog_dir), enc.text)
    return Catalog(music_descriptor(table.scalars, table.pooled), track_drive(table.facts), table.ids,
                   list(table.hashes), [t.source for t in tracks], table.facts[:, 1].astype(np.float64),
                   table.facts[:, 2].astype(np.float64), table)


def load_game(settings: Settings, game: str, pairs_path: Path, catalog: Catalog, analyser) -> GamePairs:
    """Analyse (or read cached) every clip of a game and find each track's catalog row."""
    from core.catalog.ingest import file_hash
    from core.retriever.pairs_eval import read_pairs

    row_of = {h: i for i, h in enumerate(catalog.hashes)}
    ids, frames, facts, pace, targets, missing, seqs, origins = [], [], [], [], [], 0, [], []
    for p in read_pairs(pairs_path):
        row = row_of.get(file_hash(p["track"]))
        if row is None:
            missing += 1
            continue
        a = analyser.analyse(Path(p["video"]))
        f, fv = video_inputs(a.frame_features, a.facts)
        ids.append(p["id"]), frames.append(f), facts.append(fv), pace.append(video_pace(a.facts))
        seqs.append(a.frame_features)
        origins.append({"id": p["id"], "track": Path(p["track"]).name, **(p.get("source") or {})})
        targets.append(row)
    rows = set(targets)
    sources = {catalog.sources[r] for r in rows}
    rows |= {i for i, s in enumerate(catalog.sources) if s in sources and s not in ("local", "")}
    return GamePairs(game, ids, np.array(frames, np.float32), np.array(facts, np.float32),
                     np.array(pace, np.float32), np.array(targets, np.int64), rows, missing, seqs, origins)


@dataclass
class PacePairs:
    """Scene-head inputs of fast and slow edits of the same footage: (mean frames, facts, pace) each."""

    fast: tuple[np.ndarray, np.ndarray, np.ndarray]
    slow: tuple[np.ndarray, np.ndarray, np.ndarray]


PACE_WEIGHTS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
# The pace weight is the smallest that makes the fast edit's picks faster and more
# energetic in this share of the *training* footage's pace pairs.
PACE_TARGET = 0.9
PACE_PAIRS_PER_GAME = 8


def pace_pairs(settings: Settings, game: str, pairs_path: Path, analyser, n: int = PACE_PAIRS_PER_GAME) -> PacePairs:
    """Fast and slow edits of up to ``n`` of a game's clips (evenly chosen), analysed."""
    from core.retriever.pace import fast_and_slow, read_frames, write_mp4
    from core.retriever.pairs_eval import read_pairs

    pairs = read_pairs(pairs_path)
    chosen = [pairs[i] for i in np.linspace(0, len(pairs) - 1, min(n, len(pairs))).round().astype(int)]
    folder = settings.data_dir / "datasets" / "pace" / game
    out = {"fast": [], "slow": []}
    for p in chosen:
        paths = {kind: folder / f"{_safe(p['id'])}-{kind}.mp4" for kind in out}
        if not all(x.exists() for x in paths.values()):
            frames, fps = read_frames(Path(p["video"]))
            for kind, edit in zip(("fast", "slow"), fast_and_slow(frames, fps)):
                write_mp4(edit, paths[kind])
        for kind in out:
            a = analyser.analyse(paths[kind])
            f, fv = video_inputs(a.frame_features, a.facts)
            out[kind].append((f, fv, video_pace(a.facts)))
    stack = lambda rows: (np.array([r[0] for r in rows], np.float32), np.array([r[1] for r in rows], np.float32),  # noqa: E731
                          np.array([r[2] for r in rows], np.float32))
    return PacePairs(stack(out["fast"]), stack(out["slow"]))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]


def pace_success(head: SceneHead, pairs: list[PacePairs], catalog: Catalog, k: int = 5) -> float:
    """Share of pace pairs whose fast edit's top-k has a higher median tempo and energy."""
    from core.retriever.pace import pair_success

    music = head.music_space(catalog.music)
    wins = []
    for pp in pairs:
        tops = []
        for frames, facts, pace in (pp.fast, pp.slow):
            scores = head.scores(head.predict(frames, facts), music, pace, catalog.drive)
            tops.append(np.argsort(-scores, axis=1)[:, :k])
        for fast_top, slow_top in zip(*tops):
            tempo_up, energy_up = pair_success(fast_top, slow_top, catalog.tempo, catalog.energy)
            wins.append(tempo_up and energy_up)
    return float(np.mean(wins)) if wins else 0.0


def choose_pace_weight(cfg: SceneHeadConfig, games: list[GamePairs], pace: list[PacePairs], catalog: Catalog
                       ) -> tuple[float, dict[str, float]]:
    """The smallest weight in PACE_WEIGHTS reaching PACE_TARGET on the training pace pairs
    (else the best one), with the success of every weight tried."""
    head = fit(cfg, games, catalog)
    tried = {}
    for w in PACE_WEIGHTS:
        head.cfg = replace(cfg, pace_weight=w)
        tried[str(w)] = round(pace_success(head, pace, catalog), 4)
        if tried[str(w)] >= PACE_TARGET:
            return w, tried
    return float(max(tried, key=lambda x: (tried[x], -float(x)))), tried


_BASES: dict[tuple, Basis] = {}  # selection refits many settings on the same rows: one SVD each


def _basis(key: tuple, rows: np.ndarray) -> Basis:
    # Object ids can be reused once an object is gone: the rows' shape and sum make the key safe.
    key = (*key, rows.shape, float(rows.sum(dtype=np.float64)))
    if key not in _BASES:
        if len(_BASES) > 256:
            _BASES.clear()
        _BASES[key] = basis(rows)
    return _BASES[key]


def fit(cfg: SceneHeadConfig, games: Iterable[GamePairs], catalog: Catalog) -> SceneHead:
    games = list(games)
    frames = np.concatenate([g.frames for g in games])
    facts = np.concatenate([g.facts for g in games])
    targets = catalog.music[np.concatenate([g.targets for g in games])]
    video = _basis(("video", *sorted(id(g) for g in games)), frames)
    music = _basis(("music", id(catalog)), catalog.music)
    return SceneHead.fit(cfg, frames, facts, targets, catalog.music, video_basis=video, music_basis=music)


def rank(head: SceneHead, game: GamePairs, catalog: Catalog) -> np.ndarray:
    """1-based rank of each pair's track in the whole catalog."""
    pred = head.predict(game.frames, game.facts)
    scores = head.scores(pred, head.music_space(catalog.music), game.pace, catalog.drive)
    return ranks_of_targets(scores, game.targets)


def choose(grid: list[SceneHeadConfig], games: list[GamePairs], catalog: Catalog) -> tuple[SceneHeadConfig, float]:
    """The setting with the best macro R@10 by LOGO among ``games`` (ties: lower macro MedR)."""
    best, best_key = grid[0], None
    for cfg in grid:
        r10, medr = [], []
        for i, held in enumerate(games):
            head = fit(cfg, games[:i] + games[i + 1:], catalog)
            ranks = rank(head, held, catalog)
            r10.append(float((ranks <= 10).mean()))
            medr.append(float(np.median(ranks)))
        key = (np.mean(r10), -np.mean(medr))
        if best_key is None or key > best_key:
            best, best_key = cfg, key
    return best, float(best_key[0])


TRANSFORMER_EPOCHS = (3, 10, 30)
TRANSFORMER_DEFAULT_EPOCHS = 10  # checkpoints/retriever-offline.json


def transformer_ranks(train: list[GamePairs], held: list[GamePairs], catalog: Catalog,
                      epochs: tuple[int, ...] = TRANSFORMER_EPOCHS, seed: int = 0) -> dict[int, list[np.ndarray]]:
    """Train the retriever (query tower over the frame sequence + music tower, the shipped
    model's sizes and regularisation) on ``train``'s turn-1 pairs; {epochs: [ranks per held game]}
    after each number of epochs in ``epochs``."""
    import torch

    from core.retriever.data import Example, FeatureBank
    from core.retriever.model import Retriever, RetrieverConfig
    from core.retriever.train import unique_target_batches

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    t = catalog.table
    frame_dim = train[0].sequences[0].shape[1]
    bank = FeatureBank(frame_dim, t.meta.shape[1], max_frames=32)
    examples = []
    for g in [*train, *held]:
        for pid, seq in zip(g.ids, g.sequences):
            bank.videos[f"{g.game}/{pid}"] = seq
    for g in train:
        examples += [Example(f"{g.game}/{pid}", None, None, int(x)) for pid, x in zip(g.ids, g.targets)]
    cfg = RetrieverConfig(frame_dim=frame_dim, text_dim=t.meta.shape[1], music_dim=t.pooled.shape[1],
                          scalar_dim=t.scalars.shape[1], meta_dim=t.meta.shape[1], dropout=0.2, input_dropout=0.5)
    model = Retriever(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.1)
    T = torch.from_numpy
    out: dict[int, list[np.ndarray]] = {}
    for epoch in range(1, max(epochs) + 1):
        model.train()
        for batch in unique_target_batches(examples, 64, rng):
            tgt = np.array([e.target for e in batch])
            q = model.query(**bank.collate(batch, t, model, "cpu"))
            k = model.keys(T(t.pooled[tgt]), T(t.scalars[tgt]), T(t.meta[tgt]))
            loss = model.loss(q, k)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if epoch in epochs:
            model.eval()
            with torch.no_grad():
                keys = model.keys(T(t.pooled), T(t.scalars), T(t.meta)).numpy()
                out[epoch] = []
                for g in held:
                    batch = [Example(f"{g.game}/{pid}", None, None, int(x)) for pid, x in zip(g.ids, g.targets)]
                    q = model.query(**bank.collate(batch, t, model, "cpu")).numpy()
                    out[epoch].append(ranks_of_targets(q @ keys.T, g.targets))
    return out


def transformer_fold(train: list[GamePairs], held: GamePairs, catalog: Catalog,
                     epochs: int = TRANSFORMER_DEFAULT_EPOCHS) -> tuple[int, np.ndarray]:
    """Trained on all of ``train`` for the shipped retriever's number of epochs (not tuned:
    selecting it by leave-one-game-out would cost a training per inner fold); (epochs, ranks on ``held``)."""
    return epochs, transformer_ranks(train, [held], catalog, epochs=(epochs,))[epochs][0]


def same_game_prior(game: GamePairs, pool: int) -> dict[str, float]:
    n = max(1, len(game.tracks))
    out = {f"R@{k}": round(min(k, n) / n, 4) for k in (1, 5, 10)}
    out["MedR"] = (n + 1) / 2
    return out


def evaluate(settings: Settings, games: dict[str, GamePairs], catalog: Catalog,
             pace: dict[str, PacePairs] | None = None, *, min_pairs: int = 1, transformer: bool = False,
             say: Say = lambda m: None) -> dict:
    """The LOGO report: per game and macro-averaged, the scene head and its reference rows.

    ``pace``: each game's pace pairs; a fold's pace weight is chosen on its training games' pairs."""
    names = [g for g in sorted(games) if len(games[g].targets) >= min_pairs]
    pool = len(catalog.ids)
    rows: dict[str, dict] = {}
    for name in names:
        held = games[name]
        train = [games[g] for g in names if g != name]
        say(f"{name}: choosing settings by leave-one-game-out among {', '.join(g.game for g in train)}…")
        cfg, inner = choose(GRID, train, catalog)
        pace_weight, pace_tried = 0.0, {}
        if pace:
            pace_weight, pace_tried = choose_pace_weight(cfg, train, [pace[g.game] for g in train if g.game in pace],
                                                         catalog)
        cfg = replace(cfg, pace_weight=pace_weight)
        facts_cfg, _ = choose(FACTS_ONLY_GRID, train, catalog)
        facts_cfg = replace(facts_cfg, pace_weight=pace_weight)
        head_ranks = rank(fit(cfg, train, catalog), held, catalog)
        no_pace = rank(fit(replace(cfg, pace_weight=0.0), train, catalog), held, catalog)
        facts_ranks = rank(fit(facts_cfg, train, catalog), held, catalog)
        rows[name] = {
            "n": len(held.targets), "tracks": len(set(held.targets.tolist())), "missing": held.missing,
            "chosen": cfg.to_dict(), "inner_R@10": round(inner, 4), "pace_success_training": pace_tried,
            "scene_head": summarize(head_ranks), "scene_head_without_pace": summarize(no_pace),
            "video_facts_only": summarize(facts_ranks), "same_game_prior": same_game_prior(held, pool),
            "random": {**random_expectation(pool), "MedR": (pool + 1) / 2},
        }
        if transformer:
            say(f"{name}: training the transformer query tower…")
            epochs, ranks = transformer_fold(train, held, catalog)
            rows[name]["transformer"] = {**summarize(ranks), "epochs": epochs}
    macro = {}
    keys = ["scene_head", "scene_head_without_pace", "video_facts_only", "same_game_prior", "random"]
    for key in keys + (["transformer"] if transformer else []):
        macro[key] = {m: round(float(np.mean([rows[g][key][m] for g in names])), 4)
                      for m in ("R@1", "R@5", "R@10", "MedR")} if names else {}
    return {"pool_size": pool, "games": rows, "macro": macro, "pairs": int(sum(rows[g]["n"] for g in names))}


def load_all(settings: Settings, say: Say = lambda m: None, database_url: str | None = None
             ) -> tuple[dict[str, GamePairs], Catalog, dict[str, PacePairs]]:
    """Every game's pairs and pace pairs, analysed, and the catalog as the pool."""
    from core.encoders import load_encoders
    from core.retriever.video import VideoAnalyser

    found = discover_pairs(settings)
    if not found:
        raise SystemExit("no scene pairs under DATA_DIR/datasets: run `musechat data hedgewars` and "
                         "`musechat data scenes` first")
    say("loading the catalog…")
    catalog = load_catalog(settings, database_url)
    analyser = VideoAnalyser(load_encoders(settings, parts=("frames",)).frames, settings)
    games, pace = {}, {}
    for game, path in found.items():
        say(f"{game}: analysing clips…")
        games[game] = load_game(settings, game, path, catalog, analyser)
        if games[game].missing:
            say(f"  {games[game].missing} pairs left out: their track is not in the catalog "
                f"(musechat catalog add …/{game}/music)")
        pace[game] = pace_pairs(settings, game, path, analyser)
    return {g: v for g, v in games.items() if len(v.targets)}, catalog, pace


def train_head(settings: Settings, checkpoint: Path | None = None, say: Say = lambda m: None) -> dict:
    """Choose settings by LOGO over all games, the pace weight on all games' pace pairs, fit
    on every pair, and save the head into the checkpoint; returns what was saved."""
    from core.retriever.checkpoint import resolve_checkpoint

    folder = resolve_checkpoint(settings, checkpoint)
    games, catalog, pace = load_all(settings, say)
    ordered = [games[g] for g in sorted(games)]
    say(f"choosing settings by leave-one-game-out over {len(ordered)} games…")
    cfg, inner = choose(GRID, ordered, catalog)
    weight, tried = choose_pace_weight(cfg, ordered, [pace[g.game] for g in ordered if g.game in pace], catalog)
    cfg = replace(cfg, pace_weight=weight)
    head = fit(cfg, ordered, catalog)
    # The selection score is the best of every setting tried on these same games: optimistic
    # by construction. The honest turn-1 number is `musechat eval retrieval --leave-one-game-out`.
    info = {"config": cfg.to_dict(), "selection_R@10_best_of_grid": round(inner, 4), "grid_size": len(GRID),
            "pace_success_on_training_footage": tried,
            "games": {g.game: {"pairs": len(g.targets), "tracks": len(set(g.targets.tolist()))} for g in ordered},
            "pairs": int(sum(len(g.targets) for g in ordered)), "catalog_tracks": len(catalog.ids),
            "pair_sources": {g.game: g.sources for g in ordered},
            "reproduce": "musechat data hedgewars && musechat data scenes && musechat train scene-head"}
    head.save(folder, {k: v for k, v in info.items() if k != "pair_sources"})  # the manifest keeps the list
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["scene_head"] = info
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return info
