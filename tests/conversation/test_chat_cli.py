"""`musechat chat`: the whole conversation in a terminal, through the real command."""

from __future__ import annotations

import io
import json
import re
import sys

import av
import pytest

from tests.conversation.sample_media import write_clip

pytestmark = pytest.mark.slow


def run(monkeypatch, capsys, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """``musechat ARGS`` through the console entry point; (exit code, stdout, stderr)."""
    from core.cli import main

    monkeypatch.setattr(sys, "argv", ["musechat", *args])
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def test_two_turns_as_json_with_previews(local_env, monkeypatch, capsys, tmp_path):
    clip = write_clip(tmp_path / "sample.mp4", seconds=3.0)
    code, out, err = run(monkeypatch, capsys, "chat", str(clip), "--feedback", "calmer, no vocals",
                         "--json", "--preview", str(tmp_path / "previews"))
    assert code == 0, err
    result = json.loads(out)  # exactly one JSON object on stdout
    facts = result["video_facts"]  # measured once, shown with the conversation
    assert facts["version"] >= 1 and facts["pace"] in ("still", "slow", "moderate", "fast")
    assert {"motion", "cuts_per_min", "brightness", "colourfulness", "warmth", "colours", "labels"} <= facts.keys()
    assert facts["statements"] and all(isinstance(x, str) for x in facts["statements"])
    first, second = result["turns"]
    assert first["index"] == 0 and first["filters_applied"] == []
    assert second["feedback"] == "calmer, no vocals" and second["filters_applied"] == ["instrumental only"]
    for turn in result["turns"]:
        assert len(turn["picks"]) == 3
        for pick in turn["picks"]:
            assert {"track_id", "title", "artist", "score", "tags", "explanation"} <= pick.keys()
    assert all(p["instrumental"] for p in second["picks"])
    assert len(result["previews"]) == 3
    for path in result["previews"]:
        with av.open(path) as c:
            assert c.streams.video and c.streams.audio[0].codec_context.name == "aac"


def test_interactive_conversation(local_env, monkeypatch, capsys, tmp_path):
    clip = write_clip(tmp_path / "talk.mp4", seconds=2.0)
    code, out, err = run(monkeypatch, capsys, "chat", str(clip), stdin="under 1 minute\nlike 1\n\nmore 2\n")
    assert code == 0, err
    assert "Turn 1: music for your video" in out and "Turn 2: “under 1 minute”" in out
    assert "Filters applied: under 1:00." in out
    # Each pick's facts line: title — artist · match % · … · licence (the test catalog's CC0).
    assert re.search(r"^ 1\. .+ — .+ · \d+% · .*CC0", out, re.M), out
    assert "Noted: you liked" in out
    assert "Turn 3" not in out  # the empty line ended the conversation before "more 2"


@pytest.mark.parametrize("make, message", [
    (lambda d: (d / "notes.txt").write_text("hello") and d / "notes.txt", "isn't a video I can read"),
    (lambda d: d / "missing.mp4", "can't find the file"),
])
def test_bad_video_is_one_clear_line(local_env, monkeypatch, capsys, tmp_path, make, message):
    code, out, err = run(monkeypatch, capsys, "chat", str(make(tmp_path)), "--json")
    assert code == 1 and out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [lines[0]] and message in lines[0] and lines[0].startswith("error:")


def test_empty_feedback_is_one_clear_line(local_env, monkeypatch, capsys, tmp_path):
    clip = write_clip(tmp_path / "x.mp4", seconds=2.0)
    code, out, err = run(monkeypatch, capsys, "chat", str(clip), "--feedback", " ", "--json")
    assert code == 1 and "calmer, no vocals" in err.strip().splitlines()[-1]


def test_empty_catalog_says_how_to_fill_it(monkeypatch, capsys, tmp_path):
    clip = write_clip(tmp_path / "x.mp4", seconds=2.0)
    code, out, err = run(monkeypatch, capsys, "chat", str(clip))
    assert code == 1 and "catalog is empty" in err and "musechat catalog demo" in err
