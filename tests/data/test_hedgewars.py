"""Hedgewars theme pairs on a tiny fake theme tree: clips decode, pairs file keeps its contract."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import soundfile as sf
from PIL import Image

from core.data.hedgewars import (
    build_hedgewars_pairs,
    parse_theme_cfg,
    render_theme_clip,
    theme_pairs,
)

DATA = Path("hedgewars-data/usr/share/games/hedgewars/Data")


def _png(path: Path, size: tuple[int, int], colour: tuple[int, int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros((size[1], size[0], 4), dtype=np.uint8)
    arr[...] = colour
    arr[: size[1] // 2, : size[0] // 2, :3] //= 2  # some structure to pan over
    Image.fromarray(arr, "RGBA").save(path)


def _fake_tree(root: Path) -> Path:
    data = root / DATA
    foo = data / "Themes/Foo"
    _png(foo / "Sky.png", (256, 200), (40, 80, 200, 255))
    _png(foo / "horizont.png", (128, 64), (20, 120, 40, 200))
    _png(foo / "LandTex.png", (64, 64), (150, 100, 50, 255))
    _png(foo / "Clouds.png", (64, 128), (255, 255, 255, 180))
    _png(foo / "icon.png", (16, 16), (0, 0, 0, 255))
    (foo / "theme.cfg").write_text(
        "sky = 19, 18, 82\nborder = $B0, $33, $00\nwater-top = $3E, $7B, $94\n"
        "water-opacity = $80\nmusic = Foo.ogg\nclouds = 9\nobject = plant1, 3, 65\n"
    )
    bar = data / "Themes/Bar"  # names a music file that is not there: skipped
    _png(bar / "Sky.png", (64, 64), (0, 0, 0, 255))
    (bar / "theme.cfg").write_text("sky = 0, 0, 0\nmusic = missing.ogg\n")
    (data / "Themes/NoCfg").mkdir()
    music = data / "Music/foo.ogg"  # other case than theme.cfg says, as in the game
    music.parent.mkdir(parents=True)
    t = np.arange(8000 * 2) / 8000
    sf.write(music, (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 8000,
             format="OGG", subtype="VORBIS")
    return data


def test_theme_cfg_parsing():
    cfg = parse_theme_cfg("sky = 1, 2, 3\nmusic = A.ogg\nobject = a\nobject = b\n")
    assert cfg == {"sky": "1, 2, 3", "music": "A.ogg", "object": "a"}


def test_theme_pairs(tmp_path):
    data = _fake_tree(tmp_path)
    msgs: list[str] = []
    pairs = theme_pairs(tmp_path, progress=msgs.append)
    assert [p.theme for p in pairs] == ["Foo"]
    foo = pairs[0]
    assert foo.music_path == data / "Music/foo.ogg"
    assert [p.name for p in foo.images] == ["Sky.png", "Clouds.png", "horizont.png", "LandTex.png"]
    assert any("Bar" in m and "missing.ogg" in m for m in msgs)
    # The package folder and the Data folder work as roots too.
    assert [p.theme for p in theme_pairs(tmp_path / "hedgewars-data")] == ["Foo"]
    assert [p.theme for p in theme_pairs(data)] == ["Foo"]


def test_build_pairs_and_clip_decodes(tmp_path):
    _fake_tree(tmp_path)
    out = tmp_path / "out"
    pairs_file = build_hedgewars_pairs(tmp_path, out, seconds=1.5, size=(160, 96), fps=12)
    assert pairs_file == out / "pairs.jsonl"
    rows = [json.loads(line) for line in pairs_file.read_text().splitlines()]
    assert rows == [{"id": "Foo", "game": "hedgewars", "video": "clips/Foo.mp4", "track": "music/foo.ogg",
                     "source": {"package": "hedgewars-data",
                                "path": "usr/share/games/hedgewars/Data/Themes/Foo/theme.cfg"}}]
    row = rows[0]
    track = out / row["track"]
    assert track.read_bytes() == (tmp_path / DATA / "Music/foo.ogg").read_bytes()

    with av.open(str(out / row["video"])) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [f for f in c.decode(stream)]
        duration = c.duration / 1e6
    assert len(frames) == 18
    assert (frames[0].width, frames[0].height) == (160, 96)
    assert abs(duration - 1.5) < 0.1
    # The camera moves: first and last frames differ.
    a, b = (np.asarray(f.to_image(), dtype=np.int16) for f in (frames[0], frames[-1]))
    assert np.abs(a - b).mean() > 1.0

    # A second build keeps the clip and rewrites the same pairs file.
    before = (out / row["video"]).stat().st_mtime_ns
    build_hedgewars_pairs(tmp_path, out, seconds=1.5, size=(160, 96), fps=12)
    assert (out / row["video"]).stat().st_mtime_ns == before
    assert [json.loads(x) for x in pairs_file.read_text().splitlines()] == rows


def test_render_is_deterministic(tmp_path):
    _fake_tree(tmp_path)
    pair = theme_pairs(tmp_path)[0]
    a = render_theme_clip(pair, tmp_path / "a.mp4", seconds=0.5, size=(64, 36), fps=8)
    b = render_theme_clip(pair, tmp_path / "b.mp4", seconds=0.5, size=(64, 36), fps=8)
    assert a.read_bytes() == b.read_bytes()


def test_odd_frame_size_is_refused(tmp_path):
    _fake_tree(tmp_path)
    pair = theme_pairs(tmp_path)[0]
    try:
        render_theme_clip(pair, tmp_path / "x.mp4", seconds=0.5, size=(65, 36))
    except ValueError as e:
        assert "even" in str(e)
    else:
        raise AssertionError("odd width accepted")
