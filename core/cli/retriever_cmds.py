"""`musechat train retriever`, `musechat train reranker` and `musechat eval retrieval`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from core.config import get_settings


def train_retriever(
    out: Path = typer.Option(..., "--out", help="Folder for the trained checkpoint."),
    config: Path = typer.Option(None, "--config", exists=True, dir_okay=False,
                                help="JSON file of TrainConfig fields (epochs, batch_size, lr, fusion, ...)."),
    epochs: int = typer.Option(None, help="Override the number of epochs."),
    conversations: Path = typer.Option(None, help="Folder with train/val/test.jsonl "
                                                  "(default DATA_DIR/datasets/conversations)."),
    resume: bool = typer.Option(False, help="Continue from OUT/last.pt if present."),
    ablations: bool = typer.Option(False, help="Also train the ablations (no text, no previous, concat "
                                               "fusion) into OUT/ablations/ and print their metrics."),
) -> None:
    """Train the retriever on synthesised conversations; writes a checkpoint with a manifest."""
    from core.retriever.train import TrainConfig, ablation_configs, prepare, train

    settings = get_settings()
    cfg = TrainConfig.from_file(config, epochs=epochs, conversations=str(conversations) if conversations else None)
    say = lambda m: typer.echo(m, err=True)  # noqa: E731
    conv_dir = Path(cfg.conversations) if cfg.conversations else settings.data_dir / "datasets" / "conversations"
    prep = prepare(settings, conv_dir, say)
    manifest = train(settings, cfg, out, prep=prep, resume=resume, say=say)
    results = {"full": manifest["metrics"]}
    if ablations:
        for name, acfg in ablation_configs(cfg).items():
            if name == "full":
                continue
            say(f"ablation: {name}")
            results[name] = train(settings, acfg, out / "ablations" / name, prep=prep, say=say)["metrics"]
    typer.echo(json.dumps(results, indent=2))


def train_reranker(
    checkpoint: Path = typer.Option(..., "--checkpoint", exists=True, file_okay=False,
                                    help="Retriever checkpoint to give a new re-ranker (changed in place)."),
    config: Path = typer.Option(None, "--config", exists=True, dir_okay=False,
                                help="JSON file of TrainConfig fields (rerank_epochs, rerank_hidden, ...)."),
    conversations: Path = typer.Option(None, help="Folder with train/val/test.jsonl "
                                                  "(default DATA_DIR/datasets/conversations)."),
) -> None:
    """Train the refinement-turn re-ranker for an existing retriever checkpoint (no re-index needed)."""
    from core.retriever.train import TrainConfig, retrain_reranker

    cfg = TrainConfig.from_file(config, conversations=str(conversations) if conversations else None)
    manifest = retrain_reranker(get_settings(), checkpoint, cfg, say=lambda m: typer.echo(m, err=True))
    typer.echo(json.dumps(manifest["metrics"], indent=2))


def eval_retrieval(
    pairs: Path = typer.Option(None, "--pairs", exists=True, dir_okay=False,
                               help='JSONL: {"id", "video", "track"} [+ "previous", "prompt"]; '
                                    "paths relative to the file's folder."),
    leave_one_game_out: bool = typer.Option(
        False, "--leave-one-game-out",
        help="Turn 1 by leave-one-game-out over every game's scene pairs under DATA_DIR/datasets "
             "(musechat data hedgewars / data scenes), against the whole catalog."),
    transformer: bool = typer.Option(False, "--transformer",
                                     help="With --leave-one-game-out: also train and score the transformer "
                                          "query tower per game (about a minute per game)."),
    catalog_dir: Path = typer.Option(None, "--catalog-dir", exists=True, file_okay=False,
                                     help="Use every audio file under DIR as the candidate pool "
                                          "(default: the configured catalog)."),
    checkpoint: Path = typer.Option(None, "--checkpoint", exists=True, file_okay=False,
                                    help="Retriever checkpoint (default: the configured/shipped one)."),
    baseline: str = typer.Option(None, "--baseline",
                                 help="Evaluate a baseline instead: random, popularity, video-only, text-only."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (the stable contract)."),
) -> None:
    """Recall@K, median/mean rank and SR@10 of the true track for each pair, with a random baseline."""
    from core.retriever.pairs_eval import BASELINES, evaluate_pairs

    if leave_one_game_out:
        _eval_logo(as_json, transformer)
        return
    if pairs is None:
        typer.echo("error: give --pairs FILE or --leave-one-game-out", err=True)
        raise typer.Exit(2)
    if baseline is not None and baseline not in BASELINES:
        typer.echo(f"error: unknown baseline {baseline!r}; choose one of {', '.join(BASELINES)}", err=True)
        raise typer.Exit(2)
    result = evaluate_pairs(get_settings(), pairs, catalog_dir=catalog_dir, checkpoint=checkpoint,
                            baseline=baseline, say=lambda m: print(m, file=sys.stderr))
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"pool {result['pool_size']} tracks, {result['n']} pairs")
    for turn in ("turn1", "turn2"):
        if turn in result:
            typer.echo(f"{turn}: " + "  ".join(f"{k} {v}" for k, v in result[turn].items()))
    typer.echo(f"SR@10 {result['SR@10']}   random: " + "  ".join(f"{k} {v}" for k, v in result["random"].items()))


def _eval_logo(as_json: bool, transformer: bool) -> None:
    from core.retriever.logo import evaluate, load_all

    settings = get_settings()
    say = lambda m: typer.echo(m, err=True)  # noqa: E731
    games, catalog, pace = load_all(settings, say)
    result = evaluate(settings, games, catalog, pace, transformer=transformer, say=say)
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"pool {result['pool_size']} tracks, {result['pairs']} pairs in {len(result['games'])} games")
    rows = ("scene_head", "video_facts_only", "same_game_prior", "random") + (("transformer",) if transformer else ())
    typer.echo(f"{'game':14s} {'n':>4s} " + " ".join(f"{r[:16]:>17s}" for r in rows) + "   (R@10 / MedR)")
    for name, g in [*result["games"].items(), ("macro", {"n": result["pairs"], **result["macro"]})]:
        typer.echo(f"{name:14s} {g['n']:>4d} " + " ".join(f"{g[r]['R@10']:>9.3f} / {g[r]['MedR']:<5.0f}"
                                                           for r in rows))


def train_scene_head(
    checkpoint: Path = typer.Option(None, "--checkpoint", exists=True, file_okay=False,
                                    help="Retriever checkpoint to give the scene head (default: the configured "
                                         "or shipped one; changed in place)."),
) -> None:
    """Fit turn 1's scene head on every game's scene pairs, with the settings leave-one-game-out chooses."""
    from core.retriever.logo import train_head

    settings = get_settings()
    info = train_head(settings, checkpoint, say=lambda m: typer.echo(m, err=True))
    typer.echo(json.dumps(info, indent=2))


def register(train_app: typer.Typer, eval_app: typer.Typer) -> None:
    train_app.command("scene-head")(train_scene_head)
    train_app.command("retriever")(train_retriever)
    train_app.command("reranker")(train_reranker)
    eval_app.command("retrieval")(eval_retrieval)
