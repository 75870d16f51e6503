"""`musechat train explainer` and `musechat eval explainer`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from core.config import Settings, get_settings
from core.errors import MuseChatError
from core.files import manifest_database

DEFAULT_THREADS = 2  # this project's CPU machines have two cores


def _threads(settings: Settings, threads: int | None) -> int:
    import torch

    n = threads or settings.torch_threads or DEFAULT_THREADS
    torch.set_num_threads(n)
    return n


def _catalog(settings: Settings):
    from core.explainer.data import load_catalog

    tracks = load_catalog(settings)
    if len(tracks) < 5:
        raise MuseChatError(
            f"the catalog at {settings.sqlalchemy_url.split('///')[-1]} has {len(tracks)} tracks with "
            "music features; build it first (`musechat catalog ...`), then train or evaluate the explainer")
    return tracks


def _progress():
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=False)


def _evaluate(explainer, tracks, batch_size: int, limit: int | None, say, heldout: bool = True) -> dict:
    """The four faithfulness figures on rendered clips x hand-written feedback (top level:
    what users are shown; ``raw``: the LM's text before the guard; ``outside``: the details),
    and with ``heldout`` the figures against synthesised held-out references (BERTScore,
    ``faithfulness``: claims of the raw text on those inputs, fallback rate...)."""
    from core.explainer.data import heldout_examples, split_tracks
    from core.explainer.evaluation import evaluate
    from core.explainer.outside import evaluate_outside, outside_size

    _, test = split_tracks(tracks)
    titles = [t.facts.title for t in tracks]
    with _progress() as bar:
        def counter(name: str, total: int):
            task = bar.add_task(name, total=total, info="")

            def on_batch(n: int) -> None:
                bar.advance(task, n)
                if not bar.console.is_terminal:  # a log file gets plain lines instead
                    say(f"{name}: {int(bar.tasks[task].completed)}/{total}")
            return on_batch

        outside = evaluate_outside(explainer, tracks, titles, batch_size=batch_size, limit=limit,
                                   on_batch=counter("clips x hand-written feedback", outside_size(limit)))
        metrics = {
            "supported_claim_rate": outside["shown"]["supported_rate"],
            "explanations_with_unsupported_claim": outside["shown"]["with_unsupported"],
            "contradictions_with_request": outside["shown"]["contradictions"],
            "names_not_in_facts": outside["shown"]["unknown_names"],
            "explanations_naming_unsupported_objects": outside["shown"]["explanations_naming_unsupported_objects"],
            "raw": outside["raw"], "outside": outside,
        }
        if heldout:
            examples = heldout_examples(test)[:limit] if limit else heldout_examples(test)
            metrics.update(evaluate(explainer, examples, titles, batch_size=batch_size,
                                    on_batch=counter("held-out references", len(examples))))
            metrics["test_tracks"] = len(test)
    return metrics


def train_explainer(
    out: Path = typer.Option(..., "--out", help="Folder for the trained adapter, projection and manifest."),
    max_steps: int = typer.Option(240, help="Optimiser steps (about one pass over the examples)."),
    minutes: float = typer.Option(16.0, help="Time cap for training; with the evaluation the default run "
                                  "fits in 20 minutes on 2 idle cores."),
    batch_size: int = typer.Option(4, help="Examples per step."),
    per_track: int = typer.Option(8, help="Synthesised examples per training track."),
    threads: int = typer.Option(None, help="Torch CPU threads (default MUSECHAT_TORCH_THREADS, else 2)."),
    seed: int = typer.Option(0, help="Random seed for data and initialisation."),
    evaluate: bool = typer.Option(True, help="Evaluate after training (see `musechat eval explainer`)."),
    eval_limit: int = typer.Option(None, help="Evaluate on at most this many examples."),
) -> None:
    """Train the explainer's LoRA adapter and music projection; writes a small checkpoint.

    Examples are references synthesised from the catalog's track facts (training tracks and
    phrasings only); the manifest records the data, the training run and the metrics.
    """
    import torch

    from core.explainer.data import split_tracks, train_examples
    from core.explainer.model import Explainer
    from core.explainer.training import train

    settings = get_settings()
    say = lambda m: typer.echo(m, err=True)  # noqa: E731
    n_threads = _threads(settings, threads)
    tracks = _catalog(settings)
    train_tracks, test_tracks = split_tracks(tracks)
    examples = train_examples(train_tracks, per_track=per_track, seed=seed)
    dim = int(tracks[0].embedding.shape[0])
    say(f"{len(train_tracks)} training tracks ({len(examples)} examples), {len(test_tracks)} held out; "
        f"music features: {dim}-d; {n_threads} threads")
    torch.manual_seed(seed)
    explainer = Explainer.new(settings, music_dim=dim)
    started = time.monotonic()
    with _progress() as bar:
        task = bar.add_task("training", total=100, info="")

        def on_step(step: int, loss: float, frac: float) -> None:
            bar.update(task, completed=int(frac * 100), info=f"step {step}/{max_steps} loss {loss:.3f}")
            if not bar.console.is_terminal and step % 10 == 0:  # a log file gets plain lines instead
                say(f"step {step} loss {loss:.3f} ({frac:.0%} of the budget)")

        result = train(explainer, examples, minutes=minutes, max_steps=max_steps, batch_size=batch_size,
                       seed=seed, on_step=on_step)
    say(f"trained {result.steps} steps in {result.seconds / 60:.1f} min; "
        f"loss {result.first_loss:.3f} -> {result.last_loss:.3f}")
    manifest = {
        "lora": {"r": explainer.lm.peft_config["default"].r,
                 "alpha": explainer.lm.peft_config["default"].lora_alpha,
                 "targets": sorted(explainer.lm.peft_config["default"].target_modules)},
        "data": {"catalog": manifest_database(settings), "tracks": len(tracks),
                 "train_tracks": len(train_tracks), "test_tracks": len(test_tracks),
                 "train_examples": len(examples), "references": "synthesised from track facts "
                 "(core.explainer.references, train templates only)",
                 "video": "sampled video facts (core.explainer.references.sample_video_facts), "
                 "described only with their own statements"},
        "training": {"steps": result.steps, "examples_seen": result.examples_seen,
                     "minutes": round(result.seconds / 60, 2), "batch_size": batch_size,
                     "threads": n_threads, "seed": seed, "device": str(explainer.device),
                     "first_loss": round(result.first_loss, 4), "last_loss": round(result.last_loss, 4)},
        "metrics": None,
    }
    explainer.save(out, manifest)
    if evaluate:
        explainer.lm = explainer.lm.merge_and_unload()  # faster generation; the adapter is saved
        metrics = _evaluate(explainer, tracks, batch_size=16, limit=eval_limit, say=say)
        metrics.pop("samples", None)
        manifest["metrics"] = metrics
        full = json.loads((out / "manifest.json").read_text())
        full["metrics"] = manifest["metrics"]
        full["training"]["total_minutes"] = round((time.monotonic() - started) / 60, 2)
        (out / "manifest.json").write_text(json.dumps(full, indent=2) + "\n")
        say(json.dumps(manifest["metrics"]))
    typer.echo(f"explainer checkpoint written to {out}")


def eval_explainer(
    checkpoint: Path = typer.Option(None, "--checkpoint", help="Checkpoint folder (default: "
                                    "MUSECHAT_EXPLAINER_CHECKPOINT, else the shipped one)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    batch_size: int = typer.Option(16, help="Picks generated per batch."),
    limit: int = typer.Option(None, help="Evaluate on at most this many examples."),
    threads: int = typer.Option(None, help="Torch CPU threads (default MUSECHAT_TORCH_THREADS, else 2)."),
    heldout: bool = typer.Option(True, help="Also score against the synthesised held-out references "
                                 "(BERTScore; slower)."),
) -> None:
    """Explainer faithfulness on inputs no synthesiser made, and style on held-out references.

    Top level: the four faithfulness figures (supported-claim rate, explanations with an
    unsupported claim, contradictions with the request, names not in the facts) of what
    users are shown, on clips rendered here x hand-written feedback x catalog tracks;
    ``raw``: the same figures on the LM's text before the guard. ``heldout_references``:
    BERTScore (with and without the music token), fallback rate and hallucinated titles
    against template references, which grade style, not truth.
    """
    from core.explainer.model import Explainer

    settings = get_settings()
    say = lambda m: typer.echo(m, err=True)  # noqa: E731
    _threads(settings, threads)
    tracks = _catalog(settings)
    explainer = Explainer.load(settings, checkpoint)
    metrics = _evaluate(explainer, tracks, batch_size=batch_size, limit=limit, say=say, heldout=heldout)
    samples = metrics.pop("samples", [])
    if as_json:
        typer.echo(json.dumps(metrics))
        return
    outside = metrics.pop("outside")
    raw = metrics.pop("raw")
    typer.echo(f"{'raw LM text before the guard':42} {raw}")
    typer.echo(f"{'fallback rate (clips x feedback)':42} {outside['fallback_rate']}")
    for key, value in metrics.items():
        typer.echo(f"{key:42} {value}")
    typer.echo("\nraw texts with an unsupported claim:")
    for f in outside["raw_failures"][:8]:
        typer.echo(f"- [{f['clip']} | {f['request']}] {f['raw']}  -> {f['unsupported'] + f['against_request']}")
    if samples:
        typer.echo("\nsamples (held-out references):")
    for s in samples:
        flag = " (fallback: " + ", ".join(s["failed_checks"]) + ")" if s["fallback"] else ""
        typer.echo(f"- {s['track']}: {s['shown']}{flag}")


def register(train_app: typer.Typer, eval_app: typer.Typer) -> None:
    """Attach the commands to the `musechat train` and `musechat eval` groups."""
    train_app.command("explainer")(train_explainer)
    eval_app.command("explainer")(eval_explainer)
