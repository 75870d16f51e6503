"""`musechat catalog ...`: build, inspect and search the music catalog."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import func, select

from core.config import get_settings

app = typer.Typer(help="The music catalog: add audio, build the demo catalog, list and show tracks.",
                  no_args_is_help=True)
console = Console(stderr=True)


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[now]}"),
                    console=console)


def _run_ingest(items: list, label: str) -> None:
    from core.catalog.ingest import ingest
    from core.catalog.service import load_music_encoder, prepare_database
    from core.catalog.service import refresh_index

    settings = get_settings()
    prepare_database()
    with console.status(f"loading the {settings.profile} music encoder…"):
        encoder = load_music_encoder(settings)
    with _progress() as bar:
        task = bar.add_task(label, total=len(items), now="")

        def step(item, outcome):
            bar.update(task, advance=1, now=f"{item.path.name[:40]} ({outcome})")

        report = ingest(items, encoder, settings, progress=step)
    console.print(f"added {len(report.added)}, unchanged {report.skipped}, failed {len(report.failed)}; "
                  f"{report.audio_seconds / 60:.1f} min of audio in {report.wall_seconds:.1f} s "
                  f"({report.speed:.1f}× real time)")
    for path, reason in report.failed:
        console.print(f"[yellow]skipped[/] {path}: {reason}")
    state = refresh_index(settings)
    console.print(state)


@app.command()
def add(
    folder: Path = typer.Argument(..., exists=True, file_okay=False, help="Folder to scan for audio files."),
    source: str = typer.Option("local", help="Where these tracks come from (shown with each track)."),
    licence: str = typer.Option("unknown", help="Licence of the files, when their sidecars don't say."),
    attribution: str = typer.Option("", help="Credit line for the files, when their sidecars don't say."),
) -> None:
    """Ingest every audio file under FOLDER (tags, tempo, vocals, embeddings); unchanged files are skipped.

    Title/artist/album come from a sidecar `<file>.json` if present, else the file's tags.
    """
    from core.catalog.ingest import find_audio, info_from_file

    files = find_audio(folder)
    if not files:
        console.print(f"no audio files under {folder}")
        raise typer.Exit(1)
    items = [info_from_file(p, source=source, licence=licence, attribution=attribution) for p in files]
    _run_ingest(items, "analysing")


@app.command()
def demo(
    packages: list[str] = typer.Option(None, "--package", help="Only these Debian packages (repeatable)."),
) -> None:
    """Build the demo catalog from free game soundtracks packaged by Debian.

    Downloads the packages with `apt-get download` (nothing is installed) into
    DATA_DIR/sources, reads titles, artists and licences from the packages, then ingests.
    """
    from core.catalog.ingest import TrackInfo
    from core.catalog.sources import DEMO_PACKAGES, PackageFetchError, demo_tracks, fetch_packages

    settings = get_settings()
    dest = settings.data_dir / "sources"
    wanted = tuple(packages) if packages else DEMO_PACKAGES
    with console.status("fetching Debian packages…") as status:
        try:
            fetch_packages(dest, wanted, progress=lambda line: status.update(line))
        except PackageFetchError as exc:  # partial success: go on with what was fetched
            console.print(f"[yellow]{exc}[/]")
    tracks = demo_tracks(dest, packages=[p for p in wanted if (dest / p).is_dir()])
    items = [TrackInfo(path=t.path, title=t.title, artist=t.artist, album=t.album, licence=t.licence,
                       attribution=t.attribution, source=t.source) for t in tracks]
    console.print(f"{len(items)} tracks in {len({t.source for t in tracks})} packages")
    _run_ingest(items, "analysing")


def _music_sample_rate(settings) -> int:
    """The rate the profile's music encoder (and so ingestion's tempo analysis) reads audio at."""
    if settings.profile == "offline":
        from core.encoders.offline import MusicnnMusic

        return MusicnnMusic.sample_rate
    from core.encoders.paper import ASTMusic

    return ASTMusic.sample_rate


@app.command()
def refacts(
    force: bool = typer.Option(False, "--force", help="Redo tracks already derived by the current rule too."),
) -> None:
    """Re-derive every track's tempo facts from its audio: onset rate, reconciled tempo, feel word.

    The beat tracker's number is reconciled with the tagger and the onset rate (see
    core/catalog/tempo.py); the raw estimate and the reason are kept. Resumable: tracks
    already done at the current rule version are skipped.
    """
    from core.catalog.ingest import rederive_rhythm
    from core.catalog.service import prepare_database, refresh_index

    settings = get_settings()
    prepare_database()
    with _progress() as bar:
        task = bar.add_task("tempo facts", total=None, now="")

        def step(track, outcome):
            bar.update(task, advance=1, now=f"{track.title[:32]} ({outcome})")

        report = rederive_rhythm(_music_sample_rate(settings), force=force, progress=step,
                                 total=lambda n: bar.update(task, total=n))
    console.print(f"derived {report.done} (tempo changed for {report.changed}), "
                  f"already current {report.skipped}, failed {len(report.failed)}")
    for path, reason in report.failed:
        console.print(f"[yellow]skipped[/] {path}: {reason}")
    if report.changed:
        console.print(refresh_index(settings))


@app.command("list")
def list_tracks(
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines."),
    source: str = typer.Option(None, help="Only tracks from this source."),
    limit: int = typer.Option(0, help="At most this many (0 = all)."),
) -> None:
    """List catalog tracks with tags, tempo, vocals and licence."""
    from core.catalog.service import track_summary
    from core.db.models import Track
    from core.db.session import session_scope

    with session_scope() as s:
        q = select(Track).order_by(Track.id)
        if source:
            q = q.where(Track.source == source)
        if limit:
            q = q.limit(limit)
        tracks = s.scalars(q).all()
        total = s.scalar(select(func.count(Track.id)))
    if as_json:
        for t in tracks:
            typer.echo(json.dumps(track_summary(t)))
        return
    table = Table("id", "title", "artist", "dur", "bpm", "vocals", "tags", "licence", "source")
    for t in tracks:
        d = track_summary(t)
        table.add_row(str(t.id), t.title, t.artist or "", d["duration"], f"{t.tempo_bpm or 0:.0f}",
                      "yes" if d["vocals"] else "no" if d["vocals"] is False else "?", ", ".join(d["tags"][:4]),
                      t.licence, t.source)
    Console().print(table)
    Console().print(f"{len(tracks)} of {total} tracks")


@app.command()
def show(track_id: int = typer.Argument(..., help="Track id (see `catalog list`).")) -> None:
    """Show one track: metadata, licence and attribution, all tags with scores."""
    from core.catalog.service import track_summary
    from core.db.models import Track
    from core.db.session import session_scope

    with session_scope() as s:
        t = s.get(Track, track_id)
        if t is None:
            console.print(f"no track with id {track_id}")
            raise typer.Exit(1)
        d = track_summary(t)
        d["all_tags"] = t.tags
        d["tempo_basis"] = t.tempo_basis
        d["path"] = t.path
        d["attribution"] = t.attribution
    typer.echo(json.dumps(d, indent=2, ensure_ascii=False))
