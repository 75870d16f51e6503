"""Scene -> music pairs from Flare's "Empyrean Campaign" (``flare-game``).

Each map of the campaign (``mods/empyrean_campaign/maps/<map>.txt``) names in its
``[header]`` the music its designers chose (``music=music/cave_theme.ogg``), the tile
set (``tileset=tilesetdefs/tileset_cave.txt``) and where the hero enters
(``hero_pos=x,y``); its ``[layer]`` sections are isometric tile maps (``type=background``
and ``type=object``, comma-separated tile ids). A tile set definition names its atlas
(``img=images/tilesets/x.png``) and each tile's box in it and its anchor
(``tile=id,x,y,w,h,ox,oy``). A pair is the map drawn around the hero's entry and the
map's music.

Files are looked up through the mods in load order, last first, as the game does:
``empyrean_campaign`` overrides ``fantasycore``. Every map is its own place, so each
map is its own scene (the per-track cap still applies).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from core.data.scenes import Progress, SceneGame, ScenePair, _blit, _load_rgba

PACKAGE = "flare-game"
SUBDIR = Path("usr/share/games/flare/mods")
MODS = ("empyrean_campaign", "fantasycore")  # searched in this order
CAMPAIGN = "empyrean_campaign"
# The world area a clip shows (px).
VIEW = (1280, 640)
# How far (cells) from the hero's entry the view may move to show more floor.
_NEAR = 12


def flare_root(root: Path) -> Path:
    """The ``mods`` folder (holding the campaign's maps) under ``root``."""
    root = Path(root)
    for cand in (root / PACKAGE / SUBDIR, root / SUBDIR, root):
        if (cand / CAMPAIGN / "maps").is_dir():
            return cand
    raise FileNotFoundError(f"no Flare campaign ({CAMPAIGN}/maps) under {root}")


def parse_flare_map(text: str) -> tuple[dict[str, str], list[tuple[str, list[list[int]]]]]:
    """A map file -> (header values, [(layer type, rows of tile ids), ...]).

    Only ``[header]`` keys (first value wins) and ``[layer]`` sections are read.
    """
    header: dict[str, str] = {}
    layers: list[tuple[str, list[list[int]]]] = []
    section = ""
    in_data = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section, in_data = line[1:-1], False
            if section == "layer":
                layers.append(("", []))
            continue
        if section == "header" and "=" in line:
            k, v = line.split("=", 1)
            header.setdefault(k.strip(), v.strip())
        elif section == "layer" and layers:
            kind, rows = layers[-1]
            if line.startswith("type="):
                layers[-1] = (line[5:].strip(), rows)
            elif line.startswith("data="):
                in_data = True
            elif in_data and line:
                try:
                    rows.append([int(v) for v in line.rstrip(",").split(",")])
                except ValueError:
                    in_data = False
    return header, layers


class FlareTileset:
    """Tile id -> (atlas image, box, anchor) from a tile set definition."""

    def __init__(self, text: str, find: Callable[[str], Path | None]):
        self.tiles: dict[int, tuple[Path, tuple[int, int, int, int], tuple[int, int]]] = {}
        self._atlases: dict[Path, Image.Image | None] = {}
        img: Path | None = None
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("img="):
                img = find(line[4:].strip())
            elif line.startswith("tile=") and img is not None:
                try:
                    tid, x, y, w, h, ox, oy = (int(v) for v in line[5:].split(",")[:7])
                except ValueError:
                    continue
                self.tiles.setdefault(tid, (img, (x, y, x + w, y + h), (ox, oy)))

    def tile(self, tid: int) -> tuple[Image.Image, tuple[int, int]] | None:
        spec = self.tiles.get(tid)
        if spec is None:
            return None
        path, box, anchor = spec
        if path not in self._atlases:
            self._atlases[path] = _load_rgba(path)
        atlas = self._atlases[path]
        if atlas is None or box[2] > atlas.width or box[3] > atlas.height:
            return None
        return atlas.crop(box), anchor


def flare_pairs(root: Path, progress: Progress | None = None) -> list[ScenePair]:
    """Every campaign map naming music and a tile set that exist, sorted by map name.

    ``root``: a sources folder holding ``flare-game/``, the unpacked package or its
    ``mods`` folder.
    """
    say = progress or (lambda _m: None)
    mods = flare_root(root)

    def find(rel: str) -> Path | None:
        for mod in MODS:
            p = mods / mod / rel
            if p.is_file():
                return p
        return None

    tilesets: dict[Path, FlareTileset] = {}
    out: list[ScenePair] = []
    skipped = 0
    for path in sorted((mods / CAMPAIGN / "maps").glob("*.txt")):
        header, layers = parse_flare_map(path.read_text(errors="replace"))
        music = find(header.get("music", "")) if header.get("music") else None
        ts_path = find(header.get("tileset", "")) if header.get("tileset") else None
        drawn = [(k, rows) for k, rows in layers if k in ("background", "object") and rows]
        if music is None or ts_path is None or not drawn:
            skipped += 1
            continue
        if ts_path not in tilesets:
            tilesets[ts_path] = FlareTileset(ts_path.read_text(errors="replace"), find)
        out.append(
            ScenePair(
                game="flare",
                id=path.stem,
                music=music,
                music_rel=music.name,
                scene_key=(path.stem,),
                compose=_MapScene(drawn, tilesets[ts_path], header),
                source=path,
            )
        )
    say(f"flare: {len(out)} maps with music and tiles ({skipped} without)")
    return out


class _MapScene:
    """Draws an isometric map around the hero's entry: floor layer, then objects."""

    def __init__(self, layers: list[tuple[str, list[list[int]]]], tileset: FlareTileset, header: dict[str, str]):
        self.layers, self.tileset, self.header = layers, tileset, header

    def __call__(self) -> Image.Image:
        W, H = VIEW
        tw = int(self.header.get("tilewidth", "64") or 64)
        th = int(self.header.get("tileheight", "32") or 32)
        try:
            hx, hy = (float(v) for v in self.header.get("hero_pos", "").split(",")[:2])
        except ValueError:
            rows = self.layers[0][1]
            hx, hy = len(rows[0]) / 2, len(rows) / 2
        hx, hy = self._view_centre(hx, hy, tw, th)
        # Screen position of map cell (x, y): the diamond's top corner.
        cx, cy = (hx - hy) * tw / 2, (hx + hy) * th / 2
        ox, oy = cx - W / 2, cy - H / 2
        bg = [int(v) for v in self.header.get("background_color", "0,0,0").split(",")[:3]]
        canvas = Image.new("RGBA", (W, H), (*bg, 255) if len(bg) == 3 else (0, 0, 0, 255))
        cache: dict[int, tuple[Image.Image, tuple[int, int]] | None] = {}
        for _kind, rows in self.layers:
            n = len(rows)
            # Back to front: by diagonal, so nearer tiles cover farther ones.
            for d in range(n + max(len(r) for r in rows)):
                for y in range(max(0, d - len(rows[0]) + 1), min(n, d + 1)):
                    x = d - y
                    if x >= len(rows[y]):
                        continue
                    tid = rows[y][x]
                    if tid <= 0:
                        continue
                    sx = (x - y) * tw / 2 - ox
                    sy = (x + y) * th / 2 - oy
                    if sx < -2 * tw or sx > W + 2 * tw or sy < -8 * th or sy > H + 8 * th:
                        continue
                    if tid not in cache:
                        cache[tid] = self.tileset.tile(tid)
                    hit = cache[tid]
                    if hit is not None:
                        img, (ax, ay) = hit
                        # The anchor is the tile's point drawn at the cell's centre.
                        _blit(canvas, img, int(sx - ax), int(sy + th / 2 - ay))
        return canvas.convert("RGB")


    def _view_centre(self, hx: float, hy: float, tw: int, th: int) -> tuple[float, float]:
        """The cell near the hero's entry whose view holds the most floor.

        Heroes enter at a map's edge; a view centred there shows mostly the void
        beyond the map. Candidates lie within ``_NEAR`` cells; ties go to the nearer.
        """
        W, H = VIEW
        cells = np.array([(x, y) for y, row in enumerate(self.layers[0][1]) for x, v in enumerate(row) if v > 0],
                         dtype=np.float64).reshape(-1, 2)
        if not len(cells):
            return hx, hy
        sx, sy = (cells[:, 0] - cells[:, 1]) * tw / 2, (cells[:, 0] + cells[:, 1]) * th / 2
        best, best_key = (hx, hy), None
        for dy in range(-_NEAR, _NEAR + 1, 3):
            for dx in range(-_NEAR, _NEAR + 1, 3):
                cx, cy = hx + dx, hy + dy
                px, py = (cx - cy) * tw / 2, (cx + cy) * th / 2
                inside = int(((abs(sx - px) < W / 2) & (abs(sy - py) < H / 2)).sum())
                key = (-inside, dx * dx + dy * dy)
                if best_key is None or key < best_key:
                    best, best_key = (cx, cy), key
        return best


GAME = SceneGame((PACKAGE,), PACKAGE, flare_pairs)
