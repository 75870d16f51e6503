"""Scene -> music pairs from OpenArena maps (``openarena-*`` packages).

Every map (``maps/<map>.bsp`` inside the game's ``.pk3`` zip archives) names its
music in the ``worldspawn`` entity (``"music" "music/OA06.ogg"``), which its mapper
chose; the map's loading picture (``levelshots/<map>.jpg``) is a screenshot of the
map. A pair is that screenshot and the music.

Archives are read in the game's order (by file name; a later one replaces a file of an
earlier one). Only the entity lump of a ``.bsp`` is read (Quake 3 BSP: lump 0). The
music is read where :func:`core.catalog.sources.fetch_packages` unpacked it, beside the
archives; maps whose music Debian does not ship (several tracks were left out of the
packages) give no pair.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from core.data.scenes import Progress, SceneGame, ScenePair

# The map packages (0.8.1 maps, the 0.8.5 and 0.8.8 updates, community map pack 1);
# the music is in the 0.8.8 update.
PACKAGES = ("openarena-081-maps", "openarena-085-data", "openarena-088-data", "openarena-oacmp1")
MUSIC_PACKAGE = "openarena-088-data"
BASEOA = Path("usr/share/games/openarena/baseoa")

# Correlation of two level shots' 16 x 16 grey thumbnails above which they show the
# same place (a plain difference calls any two dark shots the same).
SAME_SHOT = 0.9

_MUSIC_KEY = re.compile(r'"music"\s+"([^"]+)"', re.I)


def worldspawn_music(bsp: bytes) -> str | None:
    """The ``music`` key of a Quake 3 BSP's worldspawn entity (first path only), or None."""
    if len(bsp) < 16 or bsp[:4] != b"IBSP":
        return None
    offset, length = struct.unpack("<ii", bsp[8:16])
    entities = bsp[offset : offset + length].decode("latin-1")
    end = entities.find("}")
    m = _MUSIC_KEY.search(entities[: end if end >= 0 else len(entities)])
    return m.group(1).split()[0] if m else None


def openarena_pairs(root: Path, progress: Progress | None = None) -> list[ScenePair]:
    """Every map with a level shot whose named music exists, sorted by map name.

    ``root``: a sources folder holding the unpacked ``openarena-*`` packages.
    """
    say = progress or (lambda _m: None)
    root = Path(root)
    pk3s = sorted((p for pkg in PACKAGES for p in (root / pkg / BASEOA).glob("*.pk3")), key=lambda p: p.name)
    if not pk3s:
        raise FileNotFoundError(f"no OpenArena archives under {root}: needs {', '.join(PACKAGES)}")
    maps: dict[str, tuple[Path, str]] = {}
    shots: dict[str, tuple[Path, str]] = {}
    for pk3 in pk3s:
        with zipfile.ZipFile(pk3) as z:
            for name in z.namelist():
                stem = Path(name).stem.lower()
                if re.fullmatch(r"maps/[^/]+\.bsp", name, re.I):
                    maps[stem] = (pk3, name)
                elif re.fullmatch(r"levelshots/[^/]+\.(jpg|tga|png)", name, re.I):
                    shots[stem] = (pk3, name)
    music_dir = root / MUSIC_PACKAGE / BASEOA
    out: list[ScenePair] = []
    skipped = 0
    thumbs: list[tuple[str, np.ndarray]] = []
    for stem in sorted(maps):
        pk3, name = maps[stem]
        with zipfile.ZipFile(pk3) as z:
            ref = worldspawn_music(z.read(name))
        music = _music_file(music_dir, ref) if ref else None
        if music is None or stem not in shots:
            skipped += 1
            continue
        out.append(
            ScenePair(
                game="openarena",
                id=stem,
                music=music,
                music_rel=music.name,
                scene_key=(_same_shot(level_shot(*shots[stem]), stem, thumbs),),
                compose=lambda shot=shots[stem]: level_shot(*shot),
                source=pk3 / name,  # the map inside its archive
            )
        )
    say(f"openarena: {len(out)} maps with a level shot and music Debian ships ({skipped} without)")
    return out


def _same_shot(shot: Image.Image, stem: str, seen: list[tuple[str, np.ndarray]]) -> str:
    """The name of an earlier map whose level shot looks the same (a variant of one map,
    e.g. its capture-the-flag version), else ``stem``; records this shot in ``seen``."""
    thumb = np.asarray(shot.convert("L").resize((16, 16), Image.BILINEAR), np.float32).ravel()
    thumb = (thumb - thumb.mean()) / (thumb.std() + 1e-6)
    for other, t in seen:
        if float((thumb * t).mean()) > SAME_SHOT:
            return other
    seen.append((stem, thumb))
    return stem


def _music_file(music_dir: Path, ref: str) -> Path | None:
    # The engine tries the name as given, then with .ogg and .wav.
    rel = ref.strip().lstrip("/")
    for cand in (rel, rel + ".ogg", rel + ".wav"):
        p = music_dir / cand
        if p.is_file():
            return p
    return None


def level_shot(pk3: Path, name: str) -> Image.Image:
    """The level shot ``name`` from the archive ``pk3``, as RGB."""
    with zipfile.ZipFile(pk3) as z, Image.open(io.BytesIO(z.read(name))) as im:
        return im.convert("RGB")


GAME = SceneGame(PACKAGES, MUSIC_PACKAGE, openarena_pairs)
