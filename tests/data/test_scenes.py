"""Scene -> music pairs from small fake SuperTux and Wesnoth trees: what pairs, clips and sidecars come out."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from core.catalog.ingest import info_from_file
from core.catalog.sources import ReservedPackageError
from core.data.scenes import (
    ScenePair,
    build_scene_pairs,
    cap_per_track,
    expand_wml,
    load_wml_macros,
    parse_sexpr,
    parse_wml,
    render_pan_clip,
    scene_packages,
    supertux_pairs,
    wesnoth_pairs,
)

ST = Path("supertux-data/usr/share/games/supertux2")
WES = Path("usr/share/games/wesnoth/1.16/data")
CLIP = {"seconds": 1.0, "size": (64, 36), "fps": 6}


def _png(path: Path, size: tuple[int, int], colour: tuple[int, ...], alpha: int = 255) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros((size[1], size[0], 4), np.uint8)
    arr[...] = (*colour[:3], alpha)
    arr[: size[1] // 2, : size[0] // 3, :3] //= 2  # some structure to pan over
    Image.fromarray(arr, "RGBA").save(path)


def _textured_png(path: Path, size: tuple[int, int], seed: int) -> None:
    """A background with texture all over, as painted ones have (a flat one is not a scene)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr, "RGB").save(path)


def _ogg(path: Path, seconds: float, freq: float = 330.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(8000 * seconds)) / 8000
    sf.write(path, (0.2 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 8000, format="OGG",
             subtype="VORBIS")


def _level(music: str, background: str | None, extra: str = "") -> str:
    bg = f'(background (image "{background}") (speed 0.5))' if background else ""
    return f"""(supertux-level (version 3) (name (_ "A level"))
  (sector (name "main") (music "{music}") {bg}
    (gradient (top_color 0 0 1) (bottom_color 1 1 1))
    (tilemap (z-pos 0) (width 4) (height 2) (tiles 0 1 0 2
       1 1 1 1))
    (spawnpoint (name "main") (x 32) (y 32)) {extra}))"""


def _fake_supertux(root: Path) -> Path:
    data = root / ST
    _textured_png(data / "images/background/forest/sky.png", (200, 120), 1)
    _textured_png(data / "images/background/other.png", (100, 100), 2)
    _png(data / "images/tiles/t.png", (64, 32), (150, 100, 50))
    (data / "images/tiles.strf").write_text(
        '(supertux-tiles (tiles (width 2) (height 1) (ids 1 2) (image "tiles/t.png")))')
    _ogg(data / "music/forest/song.ogg", 21)
    (data / "music/forest/song.music").write_text('(supertux-music (file "song.ogg") (loop-begin 1))')
    _ogg(data / "music/misc/jingle.ogg", 3)  # too short for the catalog
    lv = data / "levels/world1"
    lv.mkdir(parents=True)
    # An old path: backgrounds moved into sub-folders, found by name.
    (lv / "a.stl").write_text(_level("music/forest/song.music", "/images/background/sky.png"))
    (lv / "b.stl").write_text(_level("/music/forest/song.ogg", "images/background/forest/sky.png"))
    (lv / "c.stl").write_text(_level("music/forest/song.ogg", "images/background/other.png"))
    (lv / "d.stl").write_text(_level("music/misc/jingle.ogg", "images/background/other.png"))
    (lv / "e.stl").write_text(_level("music/forest/song.ogg", None))  # no background: skipped
    (lv / "f.stl").write_text(_level("music/nowhere.ogg", "images/background/other.png"))
    (data / "levels/test").mkdir()
    (data / "levels/test/t.stl").write_text(_level("music/forest/song.ogg", "images/background/other.png"))
    return data


_SOUND_UTILS = """
#define SCENARIO_MUSIC MUSIC
    # Example, commented out: {SCENARIO_MUSIC battle.ogg}
    [music]
        name="revelation.ogg"
        ms_after=2000
    [/music]
    [event]
        name=prestart
        [music]
            name={MUSIC}
            immediate=yes
        [/music]
    [/event]
#enddef

#define INTRO_AND_SCENARIO_MUSIC INTRO_MUSIC SCENARIO_MUSIC
    [music]
        name={INTRO_MUSIC}
        immediate=yes
    [/music]
    [event]
        name=prestart
        [music]
            name={SCENARIO_MUSIC}
        [/music]
    [/event]
#enddef

#define DEFAULT_MUSIC_PLAYLIST
    [music]
        name=knolls.ogg
    [/music]
    [music]
        name=battle.ogg
        append=yes
    [/music]
#enddef

#define UNIT_STUFF TYPE
    [unit]
        type={TYPE}
    [/unit]
#enddef
"""


def _fake_wesnoth(root: Path) -> None:
    core = root / "wesnoth-1.16-data" / WES / "core"
    (core / "macros").mkdir(parents=True)
    (core / "macros/sound-utils.cfg").write_text(_SOUND_UTILS)
    _textured_png(core / "images/story/land.png", (480, 300), 3)
    music = root / "wesnoth-1.16-music" / WES / "core/music"
    _ogg(music / "battle.ogg", 21, 220)
    _ogg(music / "calm.ogg", 21, 440)
    _ogg(music / "revelation.ogg", 21, 550)
    camp = root / "wesnoth-1.16-foo" / WES / "campaigns/Foo"
    _textured_png(camp / "images/story/scene.png", (500, 300), 4)
    _png(camp / "images/portraits/hero.png", (500, 500), (200, 150, 150), alpha=0)  # not a scene
    (camp / "utils").mkdir(parents=True)
    (camp / "utils/intro.cfg").write_text("""
#define FOO_INTRO IMAGE
    [story]
        [part]
            music=calm.ogg
            background={IMAGE}
        [/part]
        [part]
            background=portraits/hero.png
        [/part]
    [/story]
#enddef
""")
    (camp / "scenarios").mkdir()
    (camp / "scenarios/01_Start.cfg").write_text("""
[scenario]
    id=01_Start
    {SCENARIO_MUSIC battle.ogg}
    {FOO_INTRO story/scene.png}
    {UNIT_STUFF Spearman}
[/scenario]
""")
    # A battle: its map drawn from the terrain's hex images, with its prestart music.
    (core / "terrain.cfg").write_text("""
[terrain_type]
    symbol_image=grass/green-tile
    id=grassland
    string=Gg
[/terrain_type]
[terrain_type]
    symbol_image=forest/pine-tile
    id=pine_forest
    string=^Fp
    default_base=Gll
[/terrain_type]
""")
    _textured_png(core / "images/terrain/grass/green-tile.png", (72, 72), 5)
    _png(core / "images/terrain/forest/pine-tile.png", (72, 72), (10, 90, 20))
    (camp / "maps").mkdir()
    grass, woods = ", ".join(["Gg"] * 8), ", ".join(["Gg^Fp", "1 Gg"] * 4)  # "1 Gg": side 1 starts here
    (camp / "maps/03_Battle.map").write_text("\n".join([grass] * 2 + [woods] * 4 + [grass] * 2) + "\n")
    (camp / "scenarios/03_Battle.cfg").write_text("""
[scenario]
    id=03_Battle
    map_file=03_Battle.map
    {INTRO_AND_SCENARIO_MUSIC calm.ogg battle.ogg}
[/scenario]
""")
    (camp / "scenarios/04_Lost.cfg").write_text("""
[scenario]
    id=04_Lost
    map_file=04_Lost.map
    {SCENARIO_MUSIC battle.ogg}
[/scenario]
""")
    # The game's shuffled default playlist is no designer's choice: no pair.
    (camp / "scenarios/05_Shuffle.cfg").write_text("""
[scenario]
    id=05_Shuffle
    map_file=03_Battle.map
    {DEFAULT_MUSIC_PLAYLIST}
    {FOO_INTRO story/scene.png}
[/scenario]
""")
    _ogg(music / "knolls.ogg", 21, 660)
    (camp / "scenarios/02_Next.cfg").write_text("""
[scenario]
    id=02_Next
    {SCENARIO_MUSIC "battle.ogg"}
    [story]
        [part]
            story= _ "A long text
over two lines, with ""quotes""."
            [background_layer]
                image=story/land.png~SCALE(100,100)
            [/background_layer]
        [/part]
    [/story]
[/scenario]
""")


def test_sexpr_reads_strings_atoms_and_tile_runs():
    tree = parse_sexpr('(a (name (_ "x \\"y\\"")) ; comment\n (tiles 1 2\n 3) (b c))')
    a = tree[0]
    assert a[0] == "a" and a[1] == ["name", ["_", 'x "y"']]
    assert list(a[2][1].array()) == [1, 2, 3]
    assert a[3] == ["b", "c"]


def test_wml_macros_expand_without_runaway_recursion(tmp_path):
    # The commented-out call inside the body must not expand (it would recurse).
    cfg = tmp_path / "m.cfg"
    cfg.write_text("#define M X\n    # {M again}\n[music]\nname={X}\n[/music]\n#enddef\n")
    macros = load_wml_macros([cfg])
    tree = parse_wml(expand_wml("[scenario]\n{M a.ogg}\n{unknown/file.cfg}\n[/scenario]", macros))
    assert tree.all("scenario")[0].all("music")[0].attrs == {"name": "a.ogg"}


def test_supertux_pairs(tmp_path):
    _fake_supertux(tmp_path)
    msgs: list[str] = []
    pairs = supertux_pairs(tmp_path, progress=msgs.append)
    ids = [p.id for p in pairs]
    assert ids == ["world1/a#main", "world1/b#main", "world1/c#main", "world1/d#main"]
    by_id = {p.id: p for p in pairs}
    # .music files lead to the .ogg they name; old background paths resolve by name.
    assert by_id["world1/a#main"].music.name == "song.ogg"
    assert by_id["world1/a#main"].scene_key == by_id["world1/b#main"].scene_key
    assert by_id["world1/a#main"].music_rel == "forest/song.ogg"
    still = by_id["world1/a#main"].compose()
    assert still.mode == "RGB" and still.width > still.height
    assert any("without" in m for m in msgs)


def test_wesnoth_pairs(tmp_path):
    _fake_wesnoth(tmp_path)
    pairs = wesnoth_pairs(tmp_path)
    got = [(p.id, p.music.name, p.scene_key) for p in pairs]
    assert got == [
        # The part's own music wins; the portrait part is not a scene.
        ("Foo/01_Start#0", "calm.ogg", ("scene.png",)),
        # Only SCENARIO_MUSIC: the scenario's own track, not the generic story default.
        ("Foo/02_Next#0", "battle.ogg", ("land.png",)),
        # The battlefield plays the scenario's music, not the intro's; 04_Lost's map is missing.
        ("Foo/03_Battle#map", "battle.ogg", ("03_Battle.map",)),
    ]
    battle = np.asarray(pairs[-1].compose())
    # The inner 6 x 6 hexes (the border ring is not drawn), forests on top of grass.
    assert battle.shape == (6 * 72 + 36, 6 * 54 + 18, 3)
    assert (battle == (10, 90, 20)).all(axis=2).mean() > 0.1


def test_cap_per_track_drops_duplicates_and_caps():
    def pair(i: int, track: str, key: str) -> ScenePair:
        return ScenePair("g", f"id{i}", Path(track), track, (key,), compose=lambda: None)

    pairs = [pair(0, "a", "x"), pair(1, "a", "x"), pair(2, "a", "y"), pair(3, "a", "z"), pair(4, "b", "x")]
    kept = cap_per_track(pairs, per_track=2)
    assert [p.music_rel for p in kept].count("a") == 2
    assert len({p.scene_key for p in kept if p.music_rel == "a"}) == 2
    assert [p.id for p in kept] == sorted(p.id for p in kept)  # input order kept
    assert cap_per_track(pairs, per_track=2) == kept


def test_build_scene_pairs(tmp_path):
    _fake_supertux(tmp_path)
    _fake_wesnoth(tmp_path)
    out = tmp_path / "out"
    msgs: list[str] = []
    files = build_scene_pairs(tmp_path, out, ["supertux", "wesnoth"], progress=msgs.append, per_track=6, **CLIP)
    assert files == [out / "supertux/pairs.jsonl", out / "wesnoth/pairs.jsonl"]

    rows = [json.loads(line) for line in files[0].read_text().splitlines()]
    # a and b show the same scene with the same music: one pair; d's jingle is too short.
    assert [r["id"] for r in rows] == ["supertux/world1/a#main", "supertux/world1/c#main"]
    assert all(set(r) == {"id", "game", "video", "track", "source"} and r["game"] == "supertux" for r in rows)
    assert rows[0]["source"] == {"package": "supertux-data",
                                 "path": f"{ST.relative_to('supertux-data')}/levels/world1/a.stl"}
    assert {r["track"] for r in rows} == {"music/forest/song.ogg"}
    for r in rows:
        clip = files[0].parent / r["video"]
        with av.open(str(clip)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        assert len(frames) == 6 and frames[0].shape == (36, 64, 3)
        assert not np.array_equal(frames[0], frames[-1])  # the camera moves
    track = files[0].parent / rows[0]["track"]
    meta = json.loads(track.with_name(track.name + ".json").read_text())
    assert set(meta) == {"title", "artist", "album", "licence", "attribution", "source"}
    assert meta["source"] == "supertux-data"
    info = info_from_file(track)  # what `musechat catalog add` reads
    assert info.source == "supertux-data" and info.title == meta["title"]

    wrows = [json.loads(line) for line in files[1].read_text().splitlines()]
    assert [(r["id"], r["track"]) for r in wrows] == [
        ("wesnoth/Foo/01_Start#0", "music/calm.ogg"), ("wesnoth/Foo/02_Next#0", "music/battle.ogg"),
        ("wesnoth/Foo/03_Battle#map", "music/battle.ogg")]
    assert any("supertux: 2 pairs" in m for m in msgs)
    assert wrows[1]["source"] == {"package": "wesnoth-1.16-foo", "path": f"{WES}/campaigns/Foo/scenarios/02_Next.cfg"}

    # Re-running keeps the clips (same bytes) and writes the same pairs.
    before = {p: p.read_bytes() for p in out.rglob("*.mp4")}
    assert build_scene_pairs(tmp_path, out, ["supertux", "wesnoth"], **CLIP) == files
    assert {p: p.read_bytes() for p in out.rglob("*.mp4")} == before
    # A clip no pair uses any more (its level was removed) is removed too.
    (tmp_path / ST / "levels/world1/c.stl").unlink()
    build_scene_pairs(tmp_path, out, ["supertux"], **CLIP)
    assert sorted(p.name for p in (out / "supertux/clips").iterdir()) == ["world1__a--main.mp4"]


def test_pan_clip_is_deterministic(tmp_path):
    still = Image.fromarray((np.arange(90 * 300 * 3) % 251).astype(np.uint8).reshape(90, 300, 3))
    a = render_pan_clip(still, tmp_path / "a.mp4", **CLIP)
    b = render_pan_clip(still, tmp_path / "b.mp4", **CLIP)
    assert a.read_bytes() == b.read_bytes()
    with pytest.raises(ValueError):
        render_pan_clip(still, tmp_path / "c.mp4", seconds=1, size=(63, 36))


def test_evaluation_and_reserved_games_are_refused(tmp_path):
    with pytest.raises(ValueError, match="evaluation"):
        build_scene_pairs(tmp_path, tmp_path / "out", ["hedgewars"])
    with pytest.raises(ReservedPackageError):
        scene_packages(["supertuxkart"])
    assert "supertux-data" in scene_packages(["supertux"])
    assert not any(p.startswith(("supertuxkart", "neverball")) for p in scene_packages())
    new_games = {"fillets-ng-data", "blobwars-data", "flare-game", "freedroidrpg-data", "openarena-088-data",
                 "megaglest-data"}
    assert new_games <= set(scene_packages())
