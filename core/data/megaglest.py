"""Scene -> music pairs from MegaGlest factions (``megaglest-data``).

Each faction of a tech tree (``techs/<tech>/factions/<faction>/``) names its own
music in its definition (``<faction>.xml``: ``<music value="true"
path="music/romans.ogg"/>``), played while one plays that faction, and ships the picture
shown while its game loads (``loading_screen.jpg``: the faction's towns and armies in
its landscape). A pair is that picture and the faction's music. A loading screen of
character sketches on black is left out as flat by the builder.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from PIL import Image

from core.data.scenes import Progress, SceneGame, ScenePair, _load_rgba

PACKAGE = "megaglest-data"
SUBDIR = Path("usr/share/games/megaglest")


def megaglest_root(root: Path) -> Path:
    """The game's data folder (with ``techs/``) under ``root``."""
    root = Path(root)
    for cand in (root / PACKAGE / SUBDIR, root / SUBDIR, root):
        if (cand / "techs").is_dir():
            return cand
    raise FileNotFoundError(f"no MegaGlest data (techs/) under {root}")


def megaglest_pairs(root: Path, progress: Progress | None = None) -> list[ScenePair]:
    """Every faction with its own music and a loading screen, sorted by tech and faction.

    ``root``: a sources folder holding ``megaglest-data/``, the unpacked package or the
    game's data folder.
    """
    say = progress or (lambda _m: None)
    data = megaglest_root(root)
    out: list[ScenePair] = []
    skipped = 0
    for faction in sorted(p for p in data.glob("techs/*/factions/*") if p.is_dir()):
        spec = faction / f"{faction.name}.xml"
        screens = sorted(faction.glob("loading_screen.*"))
        music = None
        if spec.is_file():
            try:
                node = ET.parse(spec).getroot().find("music")
            except ET.ParseError:
                node = None
            if node is not None and node.get("value") == "true" and node.get("path"):
                music = faction / node.get("path")
        if music is None or not music.is_file() or not screens:
            skipped += 1
            continue
        tech = faction.parent.parent.name
        out.append(
            ScenePair(
                game="megaglest",
                id=f"{tech}/{faction.name}",
                music=music,
                music_rel=f"{faction.name}/{music.name}",
                scene_key=(f"{tech}/{faction.name}",),
                compose=lambda screen=screens[0]: _screen(screen),
                source=spec,
            )
        )
    say(f"megaglest: {len(out)} factions with their own music and a loading screen ({skipped} without)")
    return out


def _screen(path: Path) -> Image.Image:
    img = _load_rgba(path)
    if img is None:
        raise OSError(f"cannot read {path}")
    return img.convert("RGB")


GAME = SceneGame((PACKAGE,), PACKAGE, megaglest_pairs)
