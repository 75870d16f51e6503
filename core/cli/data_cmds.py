"""`musechat data ...`: build the datasets: Hedgewars pairs, scene pairs, conversations."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from core.config import get_settings
from core.data.scenes import PER_TRACK

app = typer.Typer(help="Datasets: real scene->music pairs and synthesised conversations.",
                  no_args_is_help=True)
console = Console(stderr=True)


def _datasets() -> Path:
    return get_settings().data_dir / "datasets"


def _fetch(fetcher) -> None:
    """Run ``fetcher(progress=...)`` under a status line; a partial fetch is reported, not fatal."""
    from core.catalog.sources import PackageFetchError

    with console.status("fetching Debian packages…") as status:
        try:
            fetcher(progress=lambda line: status.update(line))
        except PackageFetchError as exc:  # go on with what was fetched; the builder says what is missing
            console.print(f"[yellow]{exc}[/]")


@app.command()
def hedgewars(
    out: Path = typer.Option(None, "--out", help="Output folder (default DATA_DIR/datasets/hedgewars)."),
    overwrite: bool = typer.Option(False, help="Render clips again even if present."),
) -> None:
    """The development evaluation set: one clip per Hedgewars theme with the music it names.

    Fetches hedgewars-data into DATA_DIR/sources (apt-get download, nothing installed),
    then writes OUT/pairs.jsonl ({"id", "video", "track"}, paths relative to OUT).
    """
    from core.catalog.sources import fetch_packages
    from core.data.hedgewars import PACKAGE, build_hedgewars_pairs

    sources = get_settings().data_dir / "sources"
    out = out or _datasets() / "hedgewars"
    _fetch(lambda progress: fetch_packages(sources, [PACKAGE], progress))
    with console.status("rendering theme clips…") as status:
        path = build_hedgewars_pairs(sources, out, progress=lambda m: status.update(m), overwrite=overwrite)
    console.print(f"pairs: {path}")


@app.command()
def scenes(
    out: Path = typer.Option(None, "--out", help="Output folder (default DATA_DIR/datasets/scenes)."),
    games: list[str] = typer.Option(
        None, "--game",
        help="Only these games (repeatable): supertux, wesnoth, fillets, blobwars, flare, freedroid, "
             "openarena, megaglest. Default: all."),
    per_track: int = typer.Option(PER_TRACK, min=1, help="At most this many different scenes per track."),
    fetch: bool = typer.Option(True, help="Download the games' Debian packages first (cached)."),
    overwrite: bool = typer.Option(False, help="Render clips again even if present."),
) -> None:
    """Training scene->music pairs from games whose levels name a picture and a track.

    Writes OUT/<game>/pairs.jsonl ({"id", "game", "video", "track", "source"}) plus the
    clips and the music with licence sidecars; add the music to the catalog with
    `musechat catalog add OUT/<game>/music --source <package>` (the package each game
    line names).
    """
    import time

    from core.data.scenes import build_scene_pairs, fetch_scene_sources, scene_games

    known = scene_games()
    unknown = [g for g in games or () if g not in known]
    if unknown:
        raise typer.BadParameter(f"unknown game(s) {', '.join(unknown)}; known: {', '.join(known)}",
                                 param_hint="--game")
    sources = get_settings().data_dir / "sources"
    out = out or _datasets() / "scenes"
    wanted = tuple(games) if games else tuple(known)
    if fetch:
        _fetch(lambda progress: fetch_scene_sources(sources, wanted, progress))
    for name in wanted:
        start = time.monotonic()
        with console.status(f"{name}: building scene pairs…") as status:

            def say(msg: str) -> None:
                status.update(msg)
                if "rendering" not in msg:  # per-clip lines only on the status line
                    console.print(msg)

            try:
                (path,) = build_scene_pairs(sources, out, [name], progress=say, per_track=per_track,
                                            overwrite=overwrite)
            except FileNotFoundError as exc:  # a package that could not be fetched: go on with the others
                console.print(f"[yellow]{name}: skipped: {exc}[/]")
                continue
        console.print(f"{name}: pairs {path} ({time.monotonic() - start:.0f} s); music from "
                      f"{known[name].music_package}")


@app.command()
def synth(
    out: Path = typer.Option(None, "--out", help="Output folder (default DATA_DIR/datasets/conversations)."),
    seed: int = typer.Option(0, help="Random seed; the same seed and catalog give the same data."),
    per_track: int = typer.Option(80, "--per-track", min=1, help="Conversations per target track."),
    scenes_dir: Path = typer.Option(None, "--scenes", help="Scene pairs folder, used for training videos "
                                                           "(default DATA_DIR/datasets/scenes)."),
    hedgewars_dir: Path = typer.Option(None, "--hedgewars", help="Hedgewars pairs folder, used for val/test "
                                                                 "videos only (default DATA_DIR/datasets/hedgewars)."),
) -> None:
    """Synthesise two-turn conversations from the catalog: train/val/test holding out tracks and phrasings.

    Writes OUT/{train,val,test}.jsonl, OUT/test_pairs.jsonl (the evaluation contract) and OUT/stats.json.
    """
    from core.data.synth import build_conversations

    out = out or _datasets() / "conversations"
    scenes_dir = scenes_dir or _datasets() / "scenes"
    hedgewars_dir = hedgewars_dir or _datasets() / "hedgewars"
    with console.status("synthesising conversations…"):
        stats = build_conversations(
            out, seed=seed, per_track=per_track,
            scene_pairs=sorted(scenes_dir.glob("*/pairs.jsonl")) if scenes_dir.is_dir() else [],
            eval_pairs=[hedgewars_dir / "pairs.jsonl"],
            progress=console.print,
        )
    summary = {s: {k: v for k, v in d.items() if k in ("conversations", "target_tracks", "with_video", "templates")}
               for s, d in stats["splits"].items()}
    typer.echo(json.dumps(summary, indent=1))
