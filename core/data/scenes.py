"""Real scene -> music pairs for training, from games whose level files name both.

A game designer who writes "this level shows this picture and plays this music" has
labelled a scene with its soundtrack. These Debian games do so (:func:`scene_games`):

* **SuperTux** (``supertux-data``): every sector of every level names its music and
  its background layers (plus a sky gradient and tile maps). A clip pans over the
  sector around the player's spawn point, drawn from the level's own background
  images and tiles.
* **The Battle for Wesnoth** (the campaign packages ``wesnoth-1.16-<campaign>`` with
  ``wesnoth-1.16-data`` and ``wesnoth-1.16-music``): each scenario opens with story
  screens, painted pictures shown while the intro music plays (``[story] [part]
  background=``, ``music=``, and the scenario's first ``[music]``), and is fought on a
  map (``map_file=``) drawn here from each terrain's hex image, with the music the
  scenario plays there (:class:`WesnothTerrain`). Campaign overview maps and character
  portraits are left out: they are not scenes.
* **Fish Fillets NG**, **Blob Wars**, **Flare**, **FreedroidRPG**, **OpenArena** and
  **MegaGlest**: see :mod:`core.data.fillets`, :mod:`core.data.blobwars`,
  :mod:`core.data.flare`, :mod:`core.data.freedroid`, :mod:`core.data.openarena` and
  :mod:`core.data.megaglest`.

Checked and not used: Pingus (levels name music and backgrounds, but the music is
tracker modules that the catalog's decoder cannot read), Frozen Bubble (one tune per
game mode, no level scenes), Extreme Tux Racer (three race themes shared by every
course), X-Moto (only 59 of 307 levels name music, six tracks, and a level drawn from
its textured polygons looks like a test pattern more than a place), Nexuiz (a map's
``cdtrack`` looks assigned by the map-info generator, not chosen: no map uses the
tracks that generator skips), Wizznic (puzzle boards, not scenes). Not fetched:
Warzone 2100, 0 A.D., Red Eclipse, OpenClonk, Chromium B.S.U. (as far as known their
music follows a campaign, a civilisation or a playlist, not a map; OpenClonk's scenarios
are packed in its own archive format). ``hedgewars-data`` is the
development evaluation (:mod:`core.data.hedgewars`) and must never be a training
source; the reserved held-out games are refused by
:func:`core.catalog.sources.check_not_reserved`.

Many levels share a track and a background, so pairs are deduplicated by (track,
scene images) and capped per track (:func:`cap_per_track`); a still that is mostly one
flat colour is left out (:func:`is_flat`).

Output per game, the evaluation contract of :mod:`core.data.hedgewars`:
``out_dir/<game>/pairs.jsonl`` with one ``{"id", "game", "video", "track", "source"}``
per line, paths relative to that folder (``source``: the package and the path inside
it of the level file that names both); clips in ``clips/``, the music (hard links to
the package files) in ``music/`` with a sidecar ``<file>.json`` (title, artist, album,
licence, attribution, source) that ``musechat catalog add`` reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from core.catalog.sources import (
    MIN_SECONDS,
    check_not_reserved,
    demo_tracks,
    fetch_packages,
)
from core.data.hedgewars import _link_or_copy, _safe

Progress = Callable[[str], None]

# Clip settings for training clips: small and cheap; the frame encoders resize to
# 224 px and sample ~12 frames anyway.
CLIP_SECONDS = 6.0
CLIP_SIZE = (384, 216)
CLIP_FPS = 12
# Different scenes kept per track. Pairs are already distinct scenes (repeated
# (track, images) pairs are dropped); the cap only stops one game-wide theme from
# swamping the rest. 20 keeps every scene of all but SuperTux's busiest tracks.
PER_TRACK = 20


@dataclass
class ScenePair:
    """One designer-made link between a scene and a piece of music.

    ``id`` is unique within the game (``<level or scenario>#<sector or part>``);
    ``music`` the audio file; ``music_rel`` its path below the game's music folder
    (kept in the output so that equal names in different folders stay apart);
    ``scene_key`` names the images the scene is made of (used to find duplicates);
    ``compose`` returns the scene as one RGB still, any size, that a clip pans over;
    ``source`` is the level, scenario or map file that names both (written to the
    pairs file as package + path inside it, so that a manifest can name it).
    """

    game: str
    id: str
    music: Path
    music_rel: str
    scene_key: tuple[str, ...]
    compose: Callable[[], Image.Image] = field(compare=False, repr=False)
    source: Path | None = None


# --------------------------------------------------------------------------- clips


def render_pan_clip(
    still: Image.Image,
    out_path: Path,
    seconds: float = CLIP_SECONDS,
    size: tuple[int, int] = CLIP_SIZE,
    fps: int = CLIP_FPS,
    reverse: bool = False,
) -> Path:
    """Write a slow pan-and-zoom over ``still`` as an H.264 mp4 (PyAV).

    Inputs: an image of any size, the output path, clip length (s), frame size (even
    width and height) and frame rate; ``reverse`` pans right-to-left instead.
    Output: ``out_path``. The view starts as the largest window of the frame's aspect
    that fits the still, zooms in by 12 % while drifting across the spare width (and
    a little downwards), eased at both ends. Deterministic: same inputs, same bytes
    (single-threaded x264, no timestamps in the container).
    """
    import av

    w_out, h_out = size
    if w_out % 2 or h_out % 2 or w_out <= 0 or h_out <= 0:
        raise ValueError(f"frame size must be positive and even, got {size}")
    still = still.convert("RGB")
    W, H = still.size
    aspect = w_out / h_out
    vw0, vh0 = (H * aspect, float(H)) if W / H > aspect else (float(W), W / aspect)
    n_frames = max(1, round(seconds * fps))

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp.mp4")
    with av.open(str(tmp), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = w_out, h_out, "yuv420p"
        # veryfast: these clips are many and small; quality beyond this is not seen
        # by a 224-px frame encoder.
        stream.options = {"crf": "23", "preset": "veryfast", "threads": "1"}
        stream.codec_context.thread_count = 1
        for i in range(n_frames):
            t = i / (n_frames - 1) if n_frames > 1 else 0.0
            e = t * t * (3 - 2 * t)  # smoothstep: the camera eases in and out
            vw, vh = vw0 / (1.0 + 0.12 * e), vh0 / (1.0 + 0.12 * e)
            fx = 1.0 - e if reverse else e
            x0 = fx * (W - vw)
            y0 = (0.35 + 0.3 * e) * (H - vh)
            frame_img = still.resize((w_out, h_out), Image.BILINEAR, box=(x0, y0, x0 + vw, y0 + vh))
            # Converted here: left to the encoder, the conversion to yuv420p made the
            # same clip come out in two different encodings from run to run.
            frame = av.VideoFrame.from_ndarray(np.asarray(frame_img), format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, out_path)
    return out_path


def render_gradient_clip(
    out_path: Path,
    seconds: float = CLIP_SECONDS,
    size: tuple[int, int] = CLIP_SIZE,
    fps: int = CLIP_FPS,
) -> Path:
    """A neutral clip (a slow pan over a soft grey-blue gradient) for scene-less data.

    Used where a record needs a video but no scene goes with the music; the same
    settings give the same file.
    """
    w, h = 768, 216
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    a = np.array([70, 80, 100], np.float32)
    b = np.array([150, 150, 140], np.float32)
    img = a * (1 - 0.6 * x - 0.4 * y) + b * (0.6 * x + 0.4 * y)
    still = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    return render_pan_clip(still, out_path, seconds=seconds, size=size, fps=fps)


# --------------------------------------------------------------------------- dedupe


def cap_per_track(pairs: Sequence[ScenePair], per_track: int = PER_TRACK) -> list[ScenePair]:
    """Drop repeated (track, scene images) pairs and keep at most ``per_track`` per track.

    Which ones survive the cap is decided by a hash of their ids (not file order), so
    that one world of a game does not take every slot; deterministic. Output keeps the
    input order.
    """
    seen: set[tuple[str, tuple[str, ...]]] = set()
    by_track: dict[str, list[ScenePair]] = defaultdict(list)
    for p in pairs:
        key = (p.music_rel, p.scene_key)
        if key in seen:
            continue
        seen.add(key)
        by_track[p.music_rel].append(p)
    keep: set[int] = set()
    for group in by_track.values():
        ranked = sorted(group, key=lambda p: hashlib.sha1(p.id.encode()).hexdigest())
        keep.update(id(p) for p in ranked[:per_track])
    return [p for p in pairs if id(p) in keep]


# --------------------------------------------------------------------------- SuperTux

SUPERTUX_PACKAGE = "supertux-data"
SUPERTUX_SUBDIR = Path("usr/share/games/supertux2")
_TILE = 32
# The world area a SuperTux clip shows: about one screen high, ~1.8 screens wide.
_ST_VIEW_H = 480
_ST_REGION = (1536, _ST_VIEW_H)

_SX_TOKEN = re.compile(r'\s*(?:(;[^\n]*)|(\()|(\))|"((?:[^"\\]|\\.)*)"|([^\s()";]+))')


class Sym(str):
    """An unquoted S-expression atom (a quoted string stays a plain ``str``)."""


class IntRun:
    """A long run of integers (a tile map), parsed only when asked for.

    Level files are ~95 % tile numbers; reading them as atoms would dominate the time.
    """

    def __init__(self, text: str):
        self.text = text
        self._array: np.ndarray | None = None

    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = np.array(self.text.split(), dtype=np.int64)
        return self._array


# (tiles 1 2 3 ...) and similar number-only lists: cut out before tokenising.
_INT_RUN = re.compile(r"\((tiles|ids|attributes|datas)\s+(-?\d[-\d\s]*)\)")


def parse_sexpr(text: str) -> list:
    """SuperTux/Lisp-style S-expressions -> nested lists of ``Sym``/``str`` atoms.

    Quoted strings become ``str``, bare atoms :class:`Sym`; ``;`` starts a comment;
    a list of only integers headed ``tiles``/``ids``/``attributes``/``datas`` becomes
    ``[head, IntRun]``. Unbalanced input is read as far as it goes.
    """
    runs: list[IntRun] = []

    def cut(m: re.Match) -> str:
        runs.append(IntRun(m.group(2)))
        return f"({m.group(1)} \x00{len(runs) - 1})"

    text = _INT_RUN.sub(cut, text)
    stack: list[list] = [[]]
    for m in _SX_TOKEN.finditer(text):
        comment, opening, closing, string, atom = m.groups()
        if comment is not None:
            continue
        if opening:
            stack.append([])
        elif closing:
            if len(stack) > 1:
                node = stack.pop()
                stack[-1].append(node)
        elif string is not None:
            stack[-1].append(string.replace('\\"', '"').replace("\\\\", "\\"))
        elif atom is not None:
            stack[-1].append(runs[int(atom[1:])] if atom.startswith("\x00") else Sym(atom))
    while len(stack) > 1:  # unterminated: close what is open
        node = stack.pop()
        stack[-1].append(node)
    return stack[0]


def _children(node: list, head: str) -> list[list]:
    return [c for c in node[1:] if isinstance(c, list) and c and c[0] == head]


def _child(node: list, head: str) -> list | None:
    for c in node[1:]:
        if isinstance(c, list) and c and c[0] == head:
            return c
    return None


def _value(node: list, head: str, default=None):
    """First value of ``(head value ...)``; ``(_ "text")`` unwraps to the text."""
    c = _child(node, head)
    if c is None or len(c) < 2:
        return default
    v = c[1]
    if isinstance(v, list) and len(v) >= 2 and v[0] == "_":
        v = v[1]
    return v


def _numbers(node: list | None, n: int, default: tuple[float, ...]) -> tuple[float, ...]:
    if node is None:
        return default
    try:
        vals = tuple(float(v) for v in node[1 : 1 + n])
    except (TypeError, ValueError):
        return default
    return vals if len(vals) == n else default


def _ints(node: list) -> np.ndarray:
    """The integers of ``(head 1 2 3 ...)``, whether cut out as an :class:`IntRun` or not."""
    if len(node) == 2 and isinstance(node[1], IntRun):
        return node[1].array()
    return np.array([int(_as_float(v, 0)) for v in node[1:]], dtype=np.int64)


def _as_float(v, default: float) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


class _Tileset:
    """Tile id -> 32x32 RGBA image, from a SuperTux ``.strf`` tileset."""

    def __init__(self, strf: Path, images_dir: Path):
        self.images_dir = images_dir
        self.where: dict[int, tuple[str, tuple[int, int, int, int] | None]] = {}
        self._sheets: dict[str, Image.Image | None] = {}
        self._tiles: dict[int, Image.Image | None] = {}
        tree = parse_sexpr(strf.read_text(errors="replace"))
        root = tree[0] if tree and isinstance(tree[0], list) else []
        for block in _children(root, "tiles"):
            w = int(_as_float(_value(block, "width"), 0))
            ids = _child(block, "ids")
            src = self._first_image(block)
            if not w or ids is None or src is None:
                continue
            name, region = src
            ox, oy = (region[0], region[1]) if region else (0, 0)
            for i, tid in enumerate(_ints(ids)):
                if tid > 0:
                    x, y = ox + (i % w) * _TILE, oy + (i // w) * _TILE
                    self.where.setdefault(tid, (name, (x, y, x + _TILE, y + _TILE)))
        for tile in _children(root, "tile"):
            tid = int(_as_float(_value(tile, "id"), 0))
            src = self._first_image(tile)
            if tid > 0 and src is not None:
                name, region = src
                box = (region[0], region[1], region[0] + region[2], region[1] + region[3]) if region else None
                self.where.setdefault(tid, (name, box))

    @staticmethod
    def _first_image(node: list) -> tuple[str, tuple[int, ...] | None] | None:
        # (image "a.png"), (images "a.png" "b.png") (animation: first frame), or
        # (images (region "a.png" x y w h)).
        for head in ("images", "image"):
            c = _child(node, head)
            if c is None:
                continue
            for v in c[1:]:
                if isinstance(v, str) and not isinstance(v, Sym):
                    return v, None
                if isinstance(v, list) and v and v[0] == "region" and len(v) >= 6:
                    try:
                        return str(v[1]), tuple(int(float(x)) for x in v[2:6])
                    except ValueError:
                        return None
        return None

    def tile(self, tid: int) -> Image.Image | None:
        if tid in self._tiles:
            return self._tiles[tid]
        img = None
        spec = self.where.get(tid)
        if spec is not None:
            sheet = self._sheet(spec[0])
            if sheet is not None:
                box = spec[1] or (0, 0, min(sheet.width, _TILE), min(sheet.height, _TILE))
                if box[2] <= sheet.width and box[3] <= sheet.height:
                    img = sheet.crop(box)
                    if img.size != (_TILE, _TILE):
                        img = img.resize((_TILE, _TILE), Image.NEAREST)
        self._tiles[tid] = img
        return img

    def _sheet(self, name: str) -> Image.Image | None:
        if name not in self._sheets:
            path = self.images_dir / name
            try:
                with Image.open(path) as im:
                    self._sheets[name] = im.convert("RGBA")
            except OSError:  # missing or unreadable sheet: its tiles stay empty
                self._sheets[name] = None
        return self._sheets[name]


def _supertux_root(root: Path) -> Path:
    root = Path(root)
    for cand in (root / SUPERTUX_PACKAGE / SUPERTUX_SUBDIR, root / SUPERTUX_SUBDIR, root):
        if (cand / "levels").is_dir() and (cand / "images").is_dir():
            return cand
    raise FileNotFoundError(f"no SuperTux data (levels/, images/) under {root}")


def _supertux_music(data: Path, ref: str) -> Path | None:
    """A level's music reference -> the .ogg it plays (``.music`` files name one)."""
    ref = ref.strip().lstrip("/")
    if not ref:
        return None
    cand = data / ref
    if not cand.is_file():
        # Some levels predate a reorganisation of music/ into sub-folders.
        hits = sorted((data / "music").rglob(Path(ref).name))
        if not hits:
            return None
        cand = hits[0]
    if cand.suffix == ".music":
        tree = parse_sexpr(cand.read_text(errors="replace"))
        node = tree[0] if tree and isinstance(tree[0], list) else None
        name = _value(node, "file") if node else None
        if not isinstance(name, str):
            return None
        cand = cand.parent / name
    return cand if cand.is_file() else None


def _supertux_image(data: Path, ref: str | None) -> Path | None:
    """A level's image reference -> the file; older levels name backgrounds by paths
    from before they were sorted into sub-folders, so fall back to the file name."""
    if not isinstance(ref, str) or not ref.strip():
        return None
    ref = ref.strip().lstrip("/")
    for cand in (data / ref, data / "images" / ref):
        if cand.is_file():
            return cand
    return _images_by_name(data).get(Path(ref).name.lower())


_NAME_INDEX: dict[Path, dict[str, Path]] = {}


def _images_by_name(data: Path) -> dict[str, Path]:
    if data not in _NAME_INDEX:
        index: dict[str, Path] = {}
        for p in sorted((data / "images/background").rglob("*")):
            index.setdefault(p.name.lower(), p)  # first in sorted order: deterministic
        _NAME_INDEX[data] = index
    return _NAME_INDEX[data]


def supertux_pairs(root: Path, progress: Progress | None = None) -> list[ScenePair]:
    """Every SuperTux sector that names music that exists and a background image.

    ``root``: a sources folder holding ``supertux-data/``, the unpacked package, or
    the game's data folder. Output sorted by level file then sector. Sectors without
    a background image (only a colour gradient) are skipped: their scene would be
    tiles on a flat colour.
    """
    say = progress or (lambda _m: None)
    data = _supertux_root(root)
    tilesets: dict[Path, _Tileset] = {}
    out: list[ScenePair] = []
    skipped = 0
    for level in sorted((data / "levels").rglob("*.stl")):
        rel = level.relative_to(data / "levels").as_posix()
        if rel.startswith(("test/", "misc/")):  # engine test levels, menu backdrops
            continue
        tree = parse_sexpr(level.read_text(errors="replace"))
        top = next((n for n in tree if isinstance(n, list) and n and n[0] == "supertux-level"), None)
        if top is None:
            continue
        ts_ref = _value(top, "tileset")
        ts_path = _supertux_image(data, ts_ref) if isinstance(ts_ref, str) else None
        ts_path = ts_path or data / "images/tiles.strf"
        level_music = _music_ref(top)
        for sector in _children(top, "sector"):
            name = _value(sector, "name", "main")
            ref = _music_ref(sector) or level_music
            music = _supertux_music(data, ref) if ref else None
            layers = _background_layers(data, sector)
            if music is None or not any(lay["images"] for lay in layers):
                skipped += 1
                continue
            if ts_path not in tilesets and ts_path.is_file():
                tilesets[ts_path] = _Tileset(ts_path, data / "images")
            tileset = tilesets.get(ts_path)
            images = {p.relative_to(data).as_posix() for lay in layers for p in lay["images"].values()}
            scene_key = tuple(sorted(images))
            out.append(
                ScenePair(
                    game="supertux",
                    id=f"{rel.removesuffix('.stl')}#{name}",
                    music=music,
                    music_rel=music.relative_to(data / "music").as_posix()
                    if music.is_relative_to(data / "music") else music.name,
                    scene_key=scene_key,
                    compose=_SectorScene(sector, layers, tileset),
                    source=level,
                )
            )
    say(f"supertux: {len(out)} sectors with music and a background ({skipped} without)")
    return out


def _music_ref(node: list) -> str | None:
    # (music "file") in older levels, (music (file "file") ...) in newer ones.
    for m in _children(node, "music"):
        if len(m) > 1 and isinstance(m[1], str) and not isinstance(m[1], Sym):
            return m[1]
        f = _value(m, "file")
        if isinstance(f, str):
            return f
    return None


def _background_layers(data: Path, sector: list) -> list[dict]:
    layers = []
    for bg in _children(sector, "background"):
        images = {}
        for key in ("image-top", "image", "image-bottom"):
            p = _supertux_image(data, _value(bg, key))
            if p is not None:
                images[key] = p
        speed = _as_float(_value(bg, "speed"), 0.5)
        layers.append(
            {
                "images": images,
                "speed": speed,
                "speed_y": _as_float(_value(bg, "speed-y"), speed),
                "align": str(_value(bg, "alignment", "none")),
                "z": _as_float(_value(bg, "z-pos", _value(bg, "layer")), -200),
                "color": _numbers(_child(bg, "color"), 3, (1.0, 1.0, 1.0)),
            }
        )
    return layers


class _SectorScene:
    """Draws a SuperTux sector around its spawn point: gradient, backgrounds, tiles."""

    def __init__(self, sector: list, layers: list[dict], tileset: _Tileset | None):
        self.sector, self.layers, self.tileset = sector, layers, tileset

    def __call__(self) -> Image.Image:
        W, H = _ST_REGION
        maps = [m for m in _children(self.sector, "tilemap") if _child(m, "tiles") is not None]
        level_w = max((int(_as_float(_value(m, "width"), 0)) for m in maps), default=60) * _TILE
        level_h = max((int(_as_float(_value(m, "height"), 0)) for m in maps), default=15) * _TILE
        sx, sy = self._spawn(level_w, level_h)
        cam_x = max(0.0, min(sx - W * 0.2, level_w - W))
        cam_y = max(0.0, min(sy - H * 0.65, level_h - H))

        canvas = self._gradient(W, H)
        items: list[tuple[float, int, Callable[[Image.Image], None]]] = []
        for i, lay in enumerate(self.layers):
            items.append((lay["z"], i, lambda c, lay=lay: self._draw_background(c, lay, cam_x, cam_y, level_h)))
        for i, tm in enumerate(maps):
            z = _as_float(_value(tm, "z-pos"), 0)
            items.append((z, 1000 + i, lambda c, tm=tm: self._draw_tilemap(c, tm, cam_x, cam_y)))
        for _z, _i, draw in sorted(items, key=lambda it: (it[0], it[1])):
            draw(canvas)
        # (ambient-light (color r g b)) in newer levels, (ambient-light r g b) in older.
        amb = _child(self.sector, "ambient-light")
        light = _numbers((_child(amb, "color") or amb) if amb else None, 3, (1.0, 1.0, 1.0))
        # Dark sectors are lit by lamps and the player in the game; keep them visible.
        canvas = _multiply(canvas, tuple(max(0.3, v) for v in light))
        return canvas.convert("RGB")

    def _spawn(self, level_w: int, level_h: int) -> tuple[float, float]:
        spawns = _children(self.sector, "spawnpoint")
        main = next((s for s in spawns if _value(s, "name") == "main"), spawns[0] if spawns else None)
        if main is not None:
            return _as_float(_value(main, "x"), 0.0), _as_float(_value(main, "y"), level_h * 0.7)
        return level_w * 0.1, level_h * 0.7

    def _gradient(self, W: int, H: int) -> Image.Image:
        g = _child(self.sector, "gradient")
        top = bottom = (0.3, 0.4, 0.75)
        if g is not None:
            top = _numbers(_child(g, "top_color") or _child(g, "top-color"), 3, top)
            bottom = _numbers(_child(g, "bottom_color") or _child(g, "bottom-color"), 3, bottom)
        t = np.linspace(0.0, 1.0, H, dtype=np.float32)[:, None, None]
        rgb = (np.array(top, np.float32) * (1 - t) + np.array(bottom, np.float32) * t) * 255
        arr = np.empty((H, W, 4), np.uint8)
        arr[..., :3] = np.clip(rgb, 0, 255).astype(np.uint8)
        arr[..., 3] = 255
        return Image.fromarray(arr, "RGBA")

    def _draw_background(self, canvas: Image.Image, lay: dict, cam_x: float, cam_y: float, level_h: int) -> None:
        imgs = {k: _load_rgba(p) for k, p in lay["images"].items()}
        imgs = {k: _multiply(v, lay["color"]) for k, v in imgs.items() if v is not None}
        middle = imgs.get("image") or next(iter(imgs.values()), None)
        if middle is None:
            return
        W, H = canvas.size
        w, h = middle.size
        s, sy = lay["speed"], lay["speed_y"]
        if lay["align"] == "bottom":
            top = (level_h - cam_y) * sy + H * (1 - sy) - h
        elif lay["align"] == "top":
            top = -cam_y * sy
        else:  # centred on the level, moving at its parallax speed
            top = (level_h / 2 - cam_y) * sy + (H / 2) * (1 - sy) - h / 2
        x_start = -((cam_x * s) % w)
        row_top = top
        # The middle row, then rows of the top image above (the sky gradient shows
        # when there is none) and of the bottom image (else the middle) below.
        rows = [(int(round(row_top)), middle)]
        y = row_top
        above = imgs.get("image-top")
        while above is not None and y > 0:
            y -= above.height
            rows.append((int(round(y)), above))
        y = row_top + h
        below = imgs.get("image-bottom", middle)
        while y < H:
            rows.append((int(round(y)), below))
            y += below.height
        for ry, img in rows:
            x = x_start
            while x < W:
                _blit(canvas, img, int(round(x)), ry)
                x += img.width

    def _draw_tilemap(self, canvas: Image.Image, tm: list, cam_x: float, cam_y: float) -> None:
        if self.tileset is None:
            return
        w = int(_as_float(_value(tm, "width"), 0))
        tiles = _child(tm, "tiles")
        if not w or tiles is None:
            return
        ids = _ints(tiles)
        h = len(ids) // w
        if h == 0:
            return
        grid = ids[: w * h].reshape(h, w)
        s = _as_float(_value(tm, "speed"), 1.0)
        s_y = _as_float(_value(tm, "speed-y"), s)
        ox, oy = cam_x * s, cam_y * s_y
        W, H = canvas.size
        layer = Image.new("RGBA", (W, H), (0, 0, 0, 0))
        c0, c1 = max(0, int(ox // _TILE)), min(w, int((ox + W) // _TILE) + 1)
        r0, r1 = max(0, int(oy // _TILE)), min(h, int((oy + H) // _TILE) + 1)
        for r in range(r0, r1):
            for c in range(c0, c1):
                tid = int(grid[r, c])
                if tid <= 0:
                    continue
                img = self.tileset.tile(tid)
                if img is not None:
                    layer.paste(img, (int(c * _TILE - ox), int(r * _TILE - oy)), img)
        tint = _numbers(_child(tm, "tint"), 4, (1.0, 1.0, 1.0, 1.0))
        alpha = _as_float(_value(tm, "alpha"), 1.0) * tint[3]
        layer = _multiply(layer, tint[:3])
        if alpha < 1.0:
            a = np.asarray(layer).copy()
            a[..., 3] = (a[..., 3] * max(0.0, alpha)).astype(np.uint8)
            layer = Image.fromarray(a, "RGBA")
        canvas.alpha_composite(layer)


def _blit(canvas: Image.Image, img: Image.Image, x: int, y: int) -> None:
    """Alpha-composite ``img`` at (x, y), which may lie partly outside the canvas."""
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(canvas.width, x + img.width), min(canvas.height, y + img.height)
    if x1 <= x0 or y1 <= y0:
        return
    canvas.alpha_composite(img, (x0, y0), (x0 - x, y0 - y, x1 - x, y1 - y))


def _load_rgba(path: Path) -> Image.Image | None:
    try:
        with Image.open(path) as im:
            return im.convert("RGBA")
    except OSError:  # unreadable image: the layer is left out
        return None


def _multiply(img: Image.Image, rgb: Sequence[float]) -> Image.Image:
    if all(abs(v - 1.0) < 1e-3 for v in rgb):
        return img
    a = np.asarray(img.convert("RGBA")).astype(np.float32)
    a[..., :3] *= np.clip(np.array(rgb, np.float32), 0.0, 1.0)
    return Image.fromarray(a.astype(np.uint8), "RGBA")


# --------------------------------------------------------------------------- Wesnoth

WESNOTH_DATA = Path("usr/share/games/wesnoth/1.16/data")
WESNOTH_CORE_PACKAGE = "wesnoth-1.16-data"
WESNOTH_MUSIC_PACKAGE = "wesnoth-1.16-music"
# The official campaigns, one Debian package each.
WESNOTH_CAMPAIGNS: tuple[str, ...] = tuple(
    f"wesnoth-1.16-{c}"
    for c in ("did", "dm", "dw", "ei", "httt", "l", "low", "nr", "sof", "sota", "sotbe",
              "thot", "trow", "tsg", "ttb", "utbs")
)
# Pictures that are not scenes: portraits and character art, campaign maps, props.
_NOT_SCENES = re.compile(r"(^|/)(portraits|characters|maps)/|book\.png$|black-background", re.I)

_WML_TOKEN = re.compile(
    r"\[(/|\+)?([A-Za-z_][\w]*)\]"  # [tag], [/tag], [+tag]
    r"|([A-Za-z_][\w,]*)[ \t]*=[ \t]*"  # key=
    r"((?:_[ \t]*)?\"(?:[^\"]|\"\")*\"[^\n]*|[^\n]*)"  # value: quoted (multi-line) or to EOL
)


@dataclass
class WmlMacro:
    """A WML macro: positional parameters, optional ones with defaults, the body."""

    params: list[str]
    body: str
    defaults: dict[str, str] = field(default_factory=dict)


def load_wml_macros(files: Iterable[Path], macros: dict[str, WmlMacro] | None = None) -> dict[str, WmlMacro]:
    """``#define NAME ARGS ... #enddef`` blocks from WML files -> {name: macro}.

    Optional arguments (``#arg NAME`` default ``#endarg``) keep their defaults.
    Later definitions replace earlier ones, as in the game.
    """
    macros = {} if macros is None else macros
    for f in files:
        cur: WmlMacro | None = None
        name = ""
        opt: str | None = None
        lines: list[str] = []
        for line in f.read_text(errors="replace").splitlines():
            s = line.strip()
            if cur is None:
                if s.startswith("#define "):
                    parts = s[len("#define "):].split("#", 1)[0].split()
                    if parts:
                        name, cur, lines = parts[0], WmlMacro(parts[1:], ""), []
            elif s.startswith("#enddef"):
                # Bodies hold commented-out examples of calls ("#! {MACRO x}").
                cur.body = _strip_comments("\n".join(lines))
                macros[name] = cur
                cur = None
            elif s.startswith("#arg ") and len(s.split()) > 1:
                opt, cur.defaults[s.split()[1]] = s.split()[1], ""
            elif s.startswith("#endarg"):
                opt = None
            elif opt is not None:
                cur.defaults[opt] = (cur.defaults[opt] + "\n" + line).strip()
            else:
                lines.append(line)
    return macros


def _strip_comments(text: str) -> str:
    out = []
    for line in text.splitlines():
        s = line.lstrip()
        if s.startswith("#"):
            continue  # comments and preprocessor directives (all branches are read)
        if "#" in line and '"' not in line:
            line = re.sub(r"\s#.*$", "", line)
        out.append(line)
    return "\n".join(out)


def _split_args(text: str) -> list[str]:
    """Macro call arguments: whitespace-separated; ``"..."``, ``(...)`` and ``{...}`` kept whole."""
    args, i, n = [], 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        if text[i] == "(":
            depth = 0
            while i < n:
                depth += text[i] == "("
                depth -= text[i] == ")"
                i += 1
                if depth == 0:
                    break
            args.append(text[start + 1 : i - 1])
            continue
        while i < n and not text[i].isspace():
            if text[i] == '"':
                j = text.find('"', i + 1)
                i = n if j < 0 else j + 1
            elif text[i] == "{":
                depth = 0
                while i < n:
                    depth += text[i] == "{"
                    depth -= text[i] == "}"
                    i += 1
                    if depth == 0:
                        break
            else:
                i += 1
        args.append(text[start:i])
    return args


# What a scene pair needs from a scenario; macros that cannot produce any of it (units,
# AI, terrain: megabytes per scenario) are not expanded.
# Wesnoth's shuffled default playlist (first track knolls.ogg).
_DEFAULT_PLAYLISTS = frozenset({"DEFAULT_MUSIC_PLAYLIST", "DEFAULT_MUSIC_PLAYLIST_NO_EVENT"})
_STORY_WORDS = re.compile(r"\[story\]|\[part\]|\[music\]|\[background_layer\]|background=|music=")


def _relevant_macros(macros: dict[str, WmlMacro]) -> set[str]:
    """Names of macros whose expansion can contain story or music markup."""
    calls = {n: set(re.findall(r"\{([A-Za-z_][\w]*)", m.body + " ".join(m.defaults.values())))
             for n, m in macros.items()}
    relevant = {n for n, m in macros.items() if _STORY_WORDS.search(m.body)}
    grew = True
    while grew:
        new = {n for n, c in calls.items() if n not in relevant and c & relevant}
        relevant |= new
        grew = bool(new)
    return relevant


def expand_wml(text: str, macros: dict[str, WmlMacro], keep: set[str] | None = None,
               _active: tuple[str, ...] = ()) -> str:
    """Expand ``{MACRO args}`` calls recursively; file includes and unknown names vanish.

    ``keep``: only these macros are expanded (plus any call whose arguments carry
    story or music markup); others vanish too. Default: all. A macro never expands
    inside itself (the game's preprocessor refuses recursion as well).
    """
    if len(_active) > 16 or "{" not in text:
        return text
    out, i, n = [], 0, len(text)
    while i < n:
        j = text.find("{", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        k, level = j, 0
        while k < n:
            level += text[k] == "{"
            level -= text[k] == "}"
            k += 1
            if level == 0:
                break
        inner = text[j + 1 : k - 1]
        i = k
        name = inner.split(None, 1)[0] if inner.strip() else ""
        if name not in macros or name in _active:
            continue
        if keep is not None and name not in keep and not _STORY_WORDS.search(inner):
            continue
        args = _split_args(inner)
        macro = macros[name]
        values = dict(macro.defaults)
        values.update(zip(macro.params, args[1:]))
        body = macro.body
        for p, v in values.items():
            body = body.replace("{" + p + "}", v)
        out.append(expand_wml(body, macros, keep, (*_active, name)))
    return "".join(out)


@dataclass
class WmlNode:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[WmlNode] = field(default_factory=list)

    def all(self, tag: str) -> list[WmlNode]:
        return [c for c in self.children if c.tag == tag]


def parse_wml(text: str) -> WmlNode:
    """Preprocessed WML -> a tree of :class:`WmlNode` (first value per key wins)."""
    root = WmlNode("root")
    stack = [root]
    for m in _WML_TOKEN.finditer(text):
        closing, tag, key, value = m.groups()
        if tag is not None:
            if closing == "/":
                for depth in range(len(stack) - 1, 0, -1):  # tolerate mismatches
                    if stack[depth].tag == tag:
                        del stack[depth:]
                        break
            else:
                node = WmlNode(tag)
                stack[-1].children.append(node)
                stack.append(node)
        elif key is not None:
            stack[-1].attrs.setdefault(key, _wml_value(value))
    return root


def _wml_value(raw: str) -> str:
    v = raw.strip()
    if v.startswith("_"):
        v = v[1:].strip()
    if v.startswith('"'):
        end = v.rfind('"')
        v = v[1:end] if end > 0 else v[1:]
        v = v.replace('""', '"')
    return v.strip()


def _wesnoth_dirs(root: Path) -> tuple[Path, list[Path], Path]:
    """(core data dir, campaign dirs, music dir) under a sources folder."""
    root = Path(root)
    core = root / WESNOTH_CORE_PACKAGE / WESNOTH_DATA / "core"
    music = root / WESNOTH_MUSIC_PACKAGE / WESNOTH_DATA / "core/music"
    campaigns = []
    for pkg in sorted(p for p in root.glob("wesnoth-1.16-*") if p.is_dir()):
        found = (pkg / WESNOTH_DATA / "campaigns").glob("*")
        campaigns.extend(sorted(d for d in found if (d / "scenarios").is_dir()))
    return core, campaigns, music


def wesnoth_pairs(root: Path, progress: Progress | None = None) -> list[ScenePair]:
    """Every Wesnoth story screen showing a scene picture, with the music it plays.

    ``root``: a sources folder holding the unpacked ``wesnoth-1.16-*`` packages (core
    data, music, campaigns). The music of a story part is the part's own ``music=``,
    else the previous part's, else the scenario's (see :func:`_wesnoth_scene_music`).
    Output sorted by campaign, scenario, part.
    """
    say = progress or (lambda _m: None)
    core, campaigns, music_dir = _wesnoth_dirs(root)
    if not core.is_dir() or not music_dir.is_dir() or not campaigns:
        raise FileNotFoundError(
            f"no Wesnoth data under {root}: needs {WESNOTH_CORE_PACKAGE}, {WESNOTH_MUSIC_PACKAGE} "
            "and at least one campaign package"
        )
    core_macros = load_wml_macros(sorted((core / "macros").glob("*.cfg")))
    terrain = WesnothTerrain(core / "terrain.cfg", core / "images/terrain")
    out: list[ScenePair] = []
    n_maps = 0
    kept_images: dict[str, bool] = {}
    for camp in campaigns:
        macros = dict(core_macros)
        for f in sorted(camp.rglob("*.cfg")):
            if "scenarios" not in f.relative_to(camp).parts:
                load_wml_macros([f], macros)
        # The default playlist is the game's shuffle for scenarios whose designer chose
        # no music: not a label of the place, so it is not expanded.
        keep = _relevant_macros(macros) - _DEFAULT_PLAYLISTS
        image_dirs = [camp / "images", core / "images"]
        for scen in sorted((camp / "scenarios").rglob("*.cfg")):
            text = expand_wml(_strip_comments(scen.read_text(errors="replace")), macros, keep)
            tree = parse_wml(text)
            for scenario in tree.all("scenario"):
                current = _wesnoth_scene_music(scenario)
                if current is None:
                    continue
                for story in scenario.all("story"):
                    for k, part in enumerate(story.all("part")):
                        if part.attrs.get("music"):
                            current = part.attrs["music"]
                        refs = [part.attrs.get("background", "")]
                        refs += [lay.attrs.get("image", "") for lay in part.all("background_layer")]
                        images = [p for p in (_wesnoth_image(r, image_dirs) for r in refs if r) if p]
                        images = [p for p in images if _is_scene(p, kept_images)]
                        music = _wesnoth_music(current, music_dir)
                        if not images or music is None:
                            continue
                        sid = f"{camp.name}/{scen.stem}#{k}"
                        out.append(
                            ScenePair(
                                game="wesnoth",
                                id=sid,
                                music=music,
                                music_rel=music.name,
                                scene_key=tuple(sorted(p.name for p in images)),
                                compose=lambda images=tuple(images): _layered_still(images),
                                source=scen,
                            )
                        )
                battle = _wesnoth_map_pair(camp, scen, scenario, music_dir, terrain)
                if battle is not None:
                    out.append(battle)
                    n_maps += 1
    say(f"wesnoth: {len(out) - n_maps} story screens with a scene picture and {n_maps} battle maps, "
        f"in {len(campaigns)} campaigns")
    return out


def _wesnoth_map_pair(camp: Path, scen: Path, scenario: WmlNode, music_dir: Path,
                      terrain: WesnothTerrain) -> ScenePair | None:
    """The scenario's battlefield (its ``map_file``) with the music it plays there."""
    ref = scenario.attrs.get("map_file", "").strip()
    maps = [camp / "maps" / ref, camp / ref] if ref else []
    map_path = next((m for m in maps if m.is_file()), None)
    name = _wesnoth_battle_music(scenario)
    music = _wesnoth_music(name, music_dir) if name else None
    if map_path is None or music is None:
        return None
    return ScenePair(
        game="wesnoth",
        id=f"{camp.name}/{scen.stem}#map",
        music=music,
        music_rel=music.name,
        scene_key=(map_path.name,),
        compose=lambda: terrain.render(map_path.read_text(errors="replace")),
        source=scen,
    )


def _wesnoth_battle_music(scenario: WmlNode) -> str | None:
    """The track a scenario plays on its battlefield: the first (not appended) one
    its ``prestart`` event sets, else its first top-level ``[music]``."""
    for ev in scenario.all("event"):
        if ev.attrs.get("name") == "prestart":
            for m in ev.all("music"):
                if m.attrs.get("name") and m.attrs.get("append") != "yes":
                    return m.attrs["name"]
    top = [m for m in scenario.all("music") if m.attrs.get("name")]
    return top[0].attrs["name"] if top else None


class WesnothTerrain:
    """Draws a Wesnoth map from its terrain codes with each terrain's own tile image.

    ``terrain.cfg`` gives each terrain code (``Gg``, ``Ww``, overlays such as ``^Fp``)
    a ``symbol_image`` below ``images/terrain/``: a 72-px hex. A map cell
    ``Gs^Fp`` is drawn as its base hex with the overlay hex on top; the smooth
    transitions the game adds between terrains are left out.
    """

    HEX = 72
    # At most this many hexes (columns, rows) around the map's centre are drawn.
    MAX_CELLS = (30, 18)

    def __init__(self, terrain_cfg: Path, images: Path):
        self.images = images
        self.symbol: dict[str, str] = {}
        text = terrain_cfg.read_text(errors="replace") if terrain_cfg.is_file() else ""
        for node in parse_wml(_strip_comments(text)).all("terrain_type"):
            image = node.attrs.get("symbol_image") or node.attrs.get("editor_image")
            if node.attrs.get("string") and image:
                self.symbol.setdefault(node.attrs["string"], image)
        self._cache: dict[str, Image.Image | None] = {}

    def hex(self, code: str) -> Image.Image | None:
        if code not in self._cache:
            image = self.symbol.get(code)
            self._cache[code] = _load_rgba(self.images / f"{image}.png") if image else None
        return self._cache[code]

    def render(self, map_text: str) -> Image.Image:
        """A ``.map`` file's text -> RGB still of its (central) hexes."""
        rows = [
            [c.strip().split(" ")[-1] for c in line.split(",")]  # "1 Ke": a side's start
            for line in map_text.splitlines() if line.strip() and "=" not in line
        ]
        rows = [r for r in rows if r and any(r)]
        if not rows:
            raise ValueError("empty map")
        n_rows, n_cols = len(rows), max(len(r) for r in rows)
        # The outermost ring is the map's border, not shown in the game.
        cols, rws = min(self.MAX_CELLS[0], max(1, n_cols - 2)), min(self.MAX_CELLS[1], max(1, n_rows - 2))
        c0, r0 = max(0, (n_cols - cols) // 2), max(0, (n_rows - rws) // 2)
        step = self.HEX * 3 // 4
        canvas = Image.new("RGBA", (cols * step + self.HEX // 4, rws * self.HEX + self.HEX // 2), (0, 0, 0, 255))
        for layer in (0, 1):  # every base first: overlays (trees, houses) reach over neighbours
            for r in range(rws):
                row = rows[r0 + r]
                for c in range(cols):
                    if c0 + c >= len(row):
                        continue
                    parts = row[c0 + c].split("^", 1)
                    if layer == 1 and len(parts) == 1:
                        continue
                    img = self.hex(parts[0] if layer == 0 else "^" + parts[1])
                    if img is not None:
                        y = r * self.HEX + (self.HEX // 2 if (c0 + c) % 2 else 0)
                        _blit(canvas, img, c * step, y)
        return canvas.convert("RGB")


def _wesnoth_scene_music(scenario: WmlNode) -> str | None:
    """The music a scenario's designer chose for its story screens.

    An explicit intro track (``INTRO_AND_SCENARIO_MUSIC``: a top-level ``[music]``
    with ``immediate=yes``) wins. Otherwise the story plays the generic default of
    ``SCENARIO_MUSIC`` (revelation.ogg, shared by most scenarios), and the scenario's
    own track (its ``prestart`` ``[music]``) says more about the place the story
    shows, so that is used.
    """
    top = [m for m in scenario.all("music") if m.attrs.get("name")]
    for m in top:
        if m.attrs.get("immediate") == "yes":
            return m.attrs["name"]
    for ev in scenario.all("event"):
        if ev.attrs.get("name") == "prestart":
            for m in ev.all("music"):
                if m.attrs.get("name") and m.attrs.get("append") != "yes":
                    return m.attrs["name"]
    return top[0].attrs["name"] if top else None


def _wesnoth_image(ref: str, dirs: Sequence[Path]) -> Path | None:
    ref = ref.split("~", 1)[0].strip().strip('"')
    if not ref or _NOT_SCENES.search(ref):
        return None
    for d in dirs:
        if (d / ref).is_file():
            return d / ref
    return None


def _wesnoth_music(name: str, music_dir: Path) -> Path | None:
    name = name.split(",", 1)[0].strip().strip('"')
    p = music_dir / name
    return p if name and p.is_file() else None


def _is_scene(path: Path, cache: dict[str, bool]) -> bool:
    """Big enough and mostly opaque (character art on transparency is not a scene)."""
    key = str(path)
    if key not in cache:
        try:
            with Image.open(path) as im:
                ok = im.width >= 400 and im.height >= 250
                if ok and ("A" in im.getbands() or im.mode == "P"):
                    alpha = np.asarray(im.convert("RGBA"))[..., 3]
                    ok = float((alpha > 200).mean()) > 0.8
        except OSError:
            ok = False
        cache[key] = ok
    return cache[key]


def _layered_still(images: Sequence[Path]) -> Image.Image:
    """The first image, with any further layers scaled to its height on top."""
    base = _load_rgba(images[0])
    if base is None:
        raise OSError(f"cannot read {images[0]}")
    for p in images[1:]:
        lay = _load_rgba(p)
        if lay is None:
            continue
        w = max(1, round(lay.width * base.height / lay.height))
        lay = lay.resize((w, base.height), Image.BILINEAR)
        _blit(base, lay, (base.width - w) // 2, 0)
    return base.convert("RGB")


# --------------------------------------------------------------------------- building


@dataclass(frozen=True)
class SceneGame:
    """A game that gives scene pairs: its packages, where its music is, its reader."""

    packages: tuple[str, ...]
    music_package: str
    find: Callable[[Path, Progress | None], list[ScenePair]]


def scene_games() -> dict[str, SceneGame]:
    """Every training game, by name, in build order.

    The further games' readers live in their own modules and use this module's
    helpers, so they are imported here, when asked for, not at import time.
    """
    from core.data import blobwars, fillets, flare, freedroid, megaglest, openarena

    return {
        "supertux": SceneGame((SUPERTUX_PACKAGE,), SUPERTUX_PACKAGE, supertux_pairs),
        "wesnoth": SceneGame(
            (WESNOTH_CORE_PACKAGE, WESNOTH_MUSIC_PACKAGE, *WESNOTH_CAMPAIGNS), WESNOTH_MUSIC_PACKAGE, wesnoth_pairs
        ),
        "fillets": fillets.GAME,
        "blobwars": blobwars.GAME,
        "flare": flare.GAME,
        "freedroid": freedroid.GAME,
        "openarena": openarena.GAME,
        "megaglest": megaglest.GAME,
    }


def scene_packages(games: Iterable[str] | None = None) -> list[str]:
    """The Debian packages the named games (default: all) need (refuses reserved ones)."""
    pkgs = [p for g in (scene_games() if games is None else games) for p in _game(g).packages]
    check_not_reserved(pkgs)
    return list(dict.fromkeys(pkgs))


def fetch_scene_sources(sources_root: Path, games: Iterable[str] | None = None,
                        progress: Progress | None = None) -> list[Path]:
    """Download and unpack the games' packages into ``sources_root`` (see ``fetch_packages``)."""
    return fetch_packages(Path(sources_root), scene_packages(games), progress)


def _game(name: str) -> SceneGame:
    if name == "hedgewars":
        raise ValueError("hedgewars is the development evaluation set, not a training source")
    check_not_reserved([name])
    games = scene_games()
    try:
        return games[name]
    except KeyError:
        raise ValueError(f"unknown game {name!r}; known: {', '.join(games)}") from None


def is_flat(still: Image.Image, share: float = 0.6) -> bool:
    """True when one colour (quantised to 32 levels) covers more than ``share`` of ``still``.

    Such a still (a black void around a small map, an empty sky) is not a scene.
    """
    a = np.asarray(still.convert("RGB").resize((96, 54), Image.NEAREST)) // 8
    codes = (a[..., 0].astype(np.int32) << 10) | (a[..., 1].astype(np.int32) << 5) | a[..., 2]
    return float(np.bincount(codes.ravel()).max()) / codes.size > share


def source_of(path: Path | None, sources_root: Path, package: str) -> dict[str, str]:
    """``{"package", "path"}`` for a file under ``sources_root/<package>/``.

    A file outside ``sources_root`` (readers called on a package folder directly) is
    named by ``package`` and its file name.
    """
    if path is None:
        return {"package": package, "path": ""}
    here = Path(os.path.abspath(path))
    try:
        parts = here.relative_to(Path(os.path.abspath(sources_root))).parts
    except ValueError:
        return {"package": package, "path": here.name}
    return {"package": parts[0], "path": "/".join(parts[1:])}


def build_scene_pairs(
    sources_root: Path,
    out_dir: Path,
    games: Iterable[str] | None = None,
    progress: Progress | None = None,
    *,
    per_track: int = PER_TRACK,
    seconds: float = CLIP_SECONDS,
    size: tuple[int, int] = CLIP_SIZE,
    fps: int = CLIP_FPS,
    overwrite: bool = False,
) -> list[Path]:
    """Render each game's scene clips and write ``out_dir/<game>/pairs.jsonl``.

    Inputs: ``sources_root`` with the games' unpacked packages (see
    :func:`fetch_scene_sources`), the output folder, game names (keys of
    :func:`scene_games`; default all), a progress callback, the per-track cap and clip
    settings.
    Writes, per game: ``clips/<id>.mp4``, ``music/<path>`` (hard link or copy of the
    package file) with a sidecar ``<file>.json`` (title, artist, album, licence,
    attribution, source) for ``musechat catalog add``, and ``pairs.jsonl`` with
    ``{"id", "game", "video", "track", "source"}`` per line (paths relative to the
    game folder; ``source`` is ``{"package", "path"}`` of the level file that names
    the scene and the music). Music shorter than the catalog's minimum (jingles) is
    left out, as the catalog would not hold it; so is a scene whose still is mostly
    one flat colour (:func:`is_flat`). Existing clips are kept unless ``overwrite``;
    clips of pairs no longer built are removed.
    Returns the pairs files, one per game, in the order given.
    """
    say = progress or (lambda _m: None)
    sources_root, out_dir = Path(sources_root), Path(out_dir)
    written = []
    for name in scene_games() if games is None else games:
        game = _game(name)
        check_not_reserved(game.packages)
        pairs = game.find(sources_root, say)
        meta = {t.path.resolve(): t for t in demo_tracks(sources_root, [game.music_package], MIN_SECONDS)}
        usable = [p for p in pairs if p.music.resolve() in meta]
        dropped = len({p.music_rel for p in pairs} - {p.music_rel for p in usable})
        chosen = cap_per_track(usable, per_track)
        gdir = out_dir / name
        lines = []
        flat = 0
        for pair in chosen:
            clip = gdir / "clips" / f"{_safe(pair.id.replace('/', '__').replace('#', '--'))}.mp4"
            if overwrite or not clip.is_file():
                still = pair.compose()
                if is_flat(still):
                    flat += 1
                    continue
                say(f"{name}: rendering {clip.name}")
                reverse = zlib.crc32(pair.id.encode()) % 2 == 1  # vary the pan direction
                render_pan_clip(still, clip, seconds=seconds, size=size, fps=fps, reverse=reverse)
            music = gdir / "music" / pair.music_rel
            _link_or_copy(pair.music, music)
            _write_sidecar(music, meta[pair.music.resolve()])
            lines.append(
                {
                    "id": f"{name}/{pair.id}",
                    "game": name,
                    "video": clip.relative_to(gdir).as_posix(),
                    "track": music.relative_to(gdir).as_posix(),
                    "source": source_of(pair.source, sources_root, game.packages[0]),
                }
            )
        pairs_path = gdir / "pairs.jsonl"
        pairs_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = pairs_path.with_name(pairs_path.name + ".tmp")
        tmp.write_text("".join(json.dumps(d) + "\n" for d in lines))
        os.replace(tmp, pairs_path)
        # Clips of pairs an earlier build kept and this one did not would read as data.
        kept = {gdir / d["video"] for d in lines}
        for stale in sorted((gdir / "clips").glob("*.mp4")):
            if stale not in kept:
                stale.unlink()
        n_tracks = len({d["track"] for d in lines})
        say(
            f"{name}: {len(lines)} pairs, {n_tracks} distinct tracks (from {len(pairs)} candidates; "
            f"{dropped} tracks too short for the catalog; {flat} flat stills left out) -> {pairs_path}"
        )
        written.append(pairs_path)
    return written


def _write_sidecar(music: Path, track) -> None:
    sidecar = music.with_name(music.name + ".json")
    data = {
        "title": track.title,
        "artist": track.artist or "",
        "album": track.album or "",
        "licence": track.licence,
        "attribution": track.attribution,
        "source": track.source,
    }
    text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    if not sidecar.is_file() or sidecar.read_text() != text:
        sidecar.write_text(text)


def main(argv: list[str] | None = None) -> int:
    """``python -m core.data.scenes SOURCES OUT_DIR [--game G]``: build the scene pairs."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("sources", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--game", action="append", choices=sorted(scene_games()))
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    build_scene_pairs(args.sources, args.out_dir, args.game, progress=print, overwrite=args.overwrite)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
