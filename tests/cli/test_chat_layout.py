"""`musechat chat` prints each pick as one facts line with its explanation under it, wrapped
to the terminal's width: readable at 60, 80 and 120 columns and when stdout is a file."""

from __future__ import annotations

import io
import re
import textwrap

import pytest
from rich.console import Console

from core.cli.chat_cmds import _WHY_INDENT, _show
from core.conversation.service import PickView, TurnView

# Written by hand, as long as the explainer's longer outputs.
EXPLANATIONS = [
    "A steady orchestral piece with strings and no vocals: it keeps pace with the slow pan across the "
    "valley and leaves room for the scenery, at about 92 BPM.",
    "Fast electronic drums at 140 BPM match the quick cuts, and there are no vocals, as you asked.",
    "Calm ambient pads for a dark scene; gentle enough to sit under dialogue.",
]
TITLES = [("Battle Music of the Northern Wastes (Extended Mix)", "Jeremy Nicoll"),
          ("Frantic", "Stephen Rozanc"), ("Elf Land", None)]


def turn(index: int = 0, feedback: str | None = None) -> TurnView:
    picks = [PickView(pick_id=i + 1, rank=i + 1, track_id=10 + i, title=title, artist=artist, album=None,
                      score=0.5 - i / 10, match_percent=87 - 5 * i, tags=["strings", "classical", "epic"],
                      tempo_bpm=[92.0, 140.0, None][i], duration_s=[205.0, 163.0, 27.0][i], instrumental=True,
                      vocal_prob=0.1, licence=["GPL-2+", "CC-BY-SA-3.0 or GPL-2+ with additional terms", "CC0"][i],
                      attribution="", path="/dev/null", explanation=EXPLANATIONS[i], explanation_fallback=False)
             for i, (title, artist) in enumerate(TITLES)]
    return TurnView(turn_id=1, conversation_id=1, index=index, status="done", feedback=feedback, filters={},
                    filters_applied=[], error=None, picks=picks, notes=[], timings={}, attempts=1, platform="cli",
                    workspace_id=None, channel_id=None, thread_id=None, user_id="local", delivered=False)


def render(view: TurnView, width: int | None) -> str:
    buf = io.StringIO()
    _show(Console(file=buf, width=width, force_terminal=False, color_system=None), view)
    return buf.getvalue()


def pick_blocks(out: str) -> list[list[str]]:
    """The rendered picks: blocks of lines separated by blank lines, after the heading."""
    return [block.splitlines() for block in out.split("\n\n")[1:] if block.strip()]


def split_block(block: list[str], text: str) -> tuple[list[str], list[str]]:
    """(facts lines, explanation lines): the explanation is the tail whose words spell ``text``."""
    n = len(text.split())
    for start in range(len(block)):
        if " ".join(block[start:]).split() == text.split():
            return block[:start], block[start:]
    raise AssertionError(f"explanation of {n} words not found as whole lines in {block}")


@pytest.mark.parametrize("width", [60, 80, 120])
def test_lines_fit_and_explanations_wrap_into_full_lines(width):
    out = render(turn(1, "more upbeat, no vocals — something for a skate clip at dusk please"), width)
    assert max(len(line) for line in out.splitlines()) <= width, out
    assert not any(line != line.rstrip() for line in out.splitlines()), "trailing spaces"
    blocks = pick_blocks(out)
    assert len(blocks) == 3, out
    for block, text in zip(blocks, EXPLANATIONS, strict=True):
        head, why = split_block(block, text)
        assert head and re.match(r"^ ?\d\. ", head[0]), out  # the facts line comes first
        assert all(line.startswith(" " * _WHY_INDENT) for line in why), out
        # No one-word lines: as few lines as a plain word wrap at the remaining width needs.
        assert len(why) <= len(textwrap.wrap(text, width - _WHY_INDENT)), out
        assert all(len(line.split()) > 2 for line in why[:-1]), out


@pytest.mark.parametrize("width", [60, 80, 120])
def test_each_pick_has_its_facts_line_above_its_explanation(width):
    out = render(turn(), width)
    assert out.splitlines()[0] == "Turn 1: music for your video"
    heads = [" ".join(split_block(b, t)[0]) for b, t in zip(pick_blocks(out), EXPLANATIONS, strict=True)]
    assert [h.split(".")[0].strip() for h in heads] == ["1", "2", "3"]
    second = " ".join(heads[1].split())
    assert second == "2. Frantic — Stephen Rozanc · 82% · 140 bpm · 2:43 · CC-BY-SA-3.0 or GPL-2+…", second
    third = " ".join(heads[2].split())
    assert third == "3. Elf Land · 77% · 0:27 · CC0", third  # no tempo, no artist: nothing shown for them


def test_not_a_terminal_uses_80_columns(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    out = render(turn(), None)
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "\x1b[" not in out  # no colour codes in a file or a pipe


def test_missing_explanation_and_markup_in_titles():
    view = turn()
    view.picks[0].explanation = None
    view.picks[1].title = "[bold]Not markup[/bold]"
    out = render(view, 80)
    assert "(no explanation)" in out
    assert "[bold]Not markup[/bold]" in out
