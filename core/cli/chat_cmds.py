"""`musechat chat VIDEO`: a whole conversation in the terminal, on this machine.

The same conversation service and job code as the bots and workers, run in-process (no
broker) against the configured database (SQLite by default) and catalog. Without
``--feedback`` it is interactive; ``--json`` prints one JSON object for scripts.
"""

from __future__ import annotations

import getpass
import json
import os
import textwrap
import warnings
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from core.config import Settings, get_settings
from core.conversation.dispatch import InProcessDispatcher
from core.conversation.preferences import parse_feedback
from core.conversation.service import ConversationService, TurnView
from core.errors import ConfigError, MuseChatError, UserError

# Previews are written for this many of the last turn's top picks.
PREVIEW_PICKS = 3
_QUIT = {"", "q", "quit", "exit", "bye", ":q"}
_REACTIONS = {"like": "like", "+": "like", "dislike": "dislike", "-": "dislike", "more": "more_like_this"}


def chat(
    video: Path = typer.Argument(..., help="The video to find music for (mp4, webm, mov, mkv, GIF)."),
    feedback: list[str] | None = typer.Option(
        None, "--feedback", "-f", help="Feedback for the next turn; repeat for more turns. Without it: interactive."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with every turn (never prompts)."),
    preview: Path | None = typer.Option(
        None, "--preview", help=f"Write the video with each of the last turn's top {PREVIEW_PICKS} picks under it "
                                "to this folder."),
) -> None:
    """Recommend music for a video, then refine it with feedback, turn after turn."""
    settings = get_settings()
    err = Console(stderr=True)
    _prepare_database(settings)
    if not video.is_file():
        raise UserError(f"no such file: {video}", user_message=f"I can't find the file {video}.")
    for text in feedback or []:
        parse_feedback(text)  # blank feedback is refused before any work is done

    _quiet_model_libraries()
    service = ConversationService(settings, dispatcher=_NoQueue())
    status = err.status("Loading models…", spinner="dots")
    # In-process and synchronous: each call below returns once its turn is answered.
    service.dispatcher = InProcessDispatcher(
        lambda turn_id, job_id=None: service.run_turn(
            turn_id, job_id=job_id, progress=lambda stage: status.update(stage.capitalize() + "…")))

    with status:
        # Load the models first, so missing weights are reported with how to provide them.
        service.warm_up(lambda stage: status.update(stage.capitalize() + "…"))
        status.update("Analysing the video…")
        first = service.start(video, platform="cli", user_id=_user(), filename=video.name)
    turns = [_answered(service, first.turn_id)]
    out = Console()
    facts = service.video_facts(first.conversation_id)
    if not as_json:
        if facts:
            out.print(f"Video: {' · '.join(facts['statements'])}", highlight=False, markup=False)
        _show(out, turns[-1])
    for text in feedback or []:
        status.update("Refining…")
        with status:
            handle = service.reply(first.conversation_id, text)
        turns.append(_answered(service, handle.turn_id))
        if not as_json:
            _show(out, turns[-1])
    if not feedback and not as_json:
        _interactive(service, first.conversation_id, turns, out, status)

    previews = _write_previews(service, video, turns[-1], preview, err) if preview else []
    if as_json:
        typer.echo(json.dumps(_as_json(video, first.conversation_id, turns, previews, facts), ensure_ascii=False))


def _quiet_model_libraries() -> None:
    """The command shows its own progress: no weight-loading bars or deprecation notices
    from the model libraries between it and the answer (set before they are imported)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft|torch)\.")


class _NoQueue:
    def submit(self, turn_id: int, job_id: str) -> None:  # replaced before first use
        raise AssertionError("dispatcher not set")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "local"


def _prepare_database(settings: Settings) -> None:
    from sqlalchemy import func, select

    from core.db import migrate
    from core.db.models import Track
    from core.db.session import session_scope

    if settings.sqlalchemy_url.startswith("sqlite"):
        migrate.upgrade(settings.sqlalchemy_url)  # a local file: bring it up to date
    else:
        state = migrate.schema_state(settings.sqlalchemy_url)
        if not state.up_to_date:
            raise ConfigError(f"the database schema is not up to date ({state.error or state.current}); "
                              "run `musechat db upgrade`")
    with session_scope() as s:
        if not s.scalar(select(func.count()).select_from(Track)):
            raise MuseChatError("the music catalog is empty: run `musechat catalog demo` "
                                "or `musechat catalog add DIR` first")


def _answered(service: ConversationService, turn_id: int) -> TurnView:
    view = service.get_turn(turn_id)
    if view.status == "failed":
        raise UserError(f"turn {view.index} failed: {view.error}", user_message=view.error or "That turn failed.")
    return view


def _interactive(service: ConversationService, conversation_id: int, turns: list[TurnView], out: Console,
                 status) -> None:
    out.print("[dim]Say what to change (e.g. “calmer, no vocals”, “under 2 minutes”), react with "
              "“like 2”, “dislike 3” or “more 1”, or press Enter to finish.[/]")
    while True:
        try:
            text = out.input("[bold]feedback>[/] ").strip()
        except (EOFError, KeyboardInterrupt):
            out.print()
            return
        if text.lower() in _QUIT:
            return
        words = text.split()
        try:
            if len(words) == 2 and words[0].lower() in _REACTIONS and words[1].isdigit():
                pick = next((p for p in turns[-1].picks if p.rank == int(words[1])), None)
                if pick is None:
                    out.print(f"[yellow]There is no pick {words[1]} in the last turn.[/]")
                    continue
                kind = _REACTIONS[words[0].lower()]
                with status:
                    handle = service.react(pick.pick_id, kind, user_id=_user())
                if handle is None:
                    out.print(f"[dim]Noted: you {kind}d “{pick.title}”.[/]")
                    continue
            else:
                status.update("Refining…")
                with status:
                    handle = service.reply(conversation_id, text)
            view = service.get_turn(handle.turn_id)
        except UserError as exc:  # e.g. empty feedback: say so and keep the conversation going
            out.print(f"[yellow]{exc.user_message}[/]")
            continue
        turns.append(view)
        _show(out, view)


def _show(out: Console, view: TurnView) -> None:
    """Print a turn: its heading, then per pick one facts line with the explanation under it,
    both wrapped to ``out``'s width (the terminal's, else 80 columns when not a terminal)."""
    title = "Turn 1: music for your video" if view.index == 0 else f"Turn {view.index + 1}: “{_short(view.feedback)}”"
    if view.status == "failed":
        out.print(f"[red]{title}: {view.error}[/]")
        return
    width = max(out.width, 2 * _WHY_INDENT + 8)
    out.print(Text(title, style="bold"))
    indent = " " * _WHY_INDENT
    for p in view.picks:
        out.print()
        # Wrapped here rather than by rich: rich pads wrapped lines with trailing spaces.
        head = textwrap.wrap(_pick_line(p), width, subsequent_indent=indent, break_on_hyphens=False)
        why = textwrap.wrap(p.explanation or "(no explanation)", width, initial_indent=indent,
                            subsequent_indent=indent, break_on_hyphens=False)
        for line in head:
            out.print(Text(line, style="bold"), no_wrap=True, crop=False)
        for line in why:
            out.print(Text(line, style="" if p.explanation else "dim"), no_wrap=True, crop=False)
    for note in view.notes:
        out.print(f"[cyan]{note}[/]")
    out.print()  # the next turn's heading stands apart


# Explanations and wrapped facts sit this many columns in, under their pick's title.
_WHY_INDENT = 4
_LICENCE_CHARS = 24


def _pick_line(p) -> str:
    """``1. Title — Artist · 87% · 120 bpm · 3:25 · GPL-2+`` (one line, before wrapping)."""
    facts = [f"{p.rank:>2}. {p.title}" + (f" — {p.artist}" if p.artist else ""), f"{p.match_percent}%"]
    if p.tempo_bpm:
        facts.append(f"{p.tempo_bpm:.0f} bpm")
    facts += [_mmss(p.duration_s), _short(p.licence, _LICENCE_CHARS)]
    return " · ".join(facts)


def _write_previews(service: ConversationService, video: Path, view: TurnView, folder: Path,
                    err: Console) -> list[str]:
    from core.conversation.preview import preview_name, write_preview

    written = []
    with err.status("Writing previews…"):
        for p in view.picks[:PREVIEW_PICKS]:
            dest = folder / preview_name(p.rank, p.title, view.index)
            try:
                write_preview(video, Path(p.path), dest)
            except UserError as exc:
                err.print(f"[yellow]No preview for “{p.title}”: {exc.user_message}[/]")
                continue
            written.append(str(dest))
    for path in written:
        err.print(f"preview: {path}")
    return written


def _as_json(video: Path, conversation_id: int, turns: list[TurnView], previews: list[str],
             facts: dict | None = None) -> dict:
    """The stable ``--json`` contract: one object, every turn, its picks and filters, and the
    video's measured facts."""
    return {
        "video": str(video),
        "conversation_id": conversation_id,
        "video_facts": facts,
        "turns": [{
            "index": t.index,
            "feedback": t.feedback,
            "status": t.status,
            "error": t.error,
            "filters": t.filters,
            "filters_applied": t.filters_applied,
            "notes": t.notes,
            "timings": t.timings,
            "picks": [{
                "rank": p.rank, "track_id": p.track_id, "title": p.title, "artist": p.artist, "album": p.album,
                "score": round(p.score, 4), "match_percent": p.match_percent, "tags": p.tags,
                "tempo_bpm": p.tempo_bpm, "duration_s": p.duration_s, "instrumental": p.instrumental,
                "vocal_prob": p.vocal_prob, "licence": p.licence, "attribution": p.attribution,
                "explanation": p.explanation,
            } for p in t.picks],
        } for t in turns],
        "previews": previews,
    }


def _short(text: str | None, n: int = 60) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _mmss(seconds: float | None) -> str:
    if not seconds:
        return "—"
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"
