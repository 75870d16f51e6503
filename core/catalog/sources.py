"""Real, free music for the demo catalog: game soundtracks shipped as Debian packages.

Two steps:

* :func:`fetch_packages` downloads the ``.deb`` files with ``apt-get download`` (no root
  needed, nothing installed) and unpacks them with ``dpkg -x`` into ``dest/<package>/``.
  It then prepares what the games keep in forms we cannot read directly: audio inside
  Quake-style ``.pk3`` archives (Nexuiz, UFO:AI) is unpacked, and each Frets on Fire
  song's stems are mixed into one full-mix file (see below).
* :func:`demo_tracks` walks the unpacked packages and returns one :class:`SourceTrack`
  per piece of music, with title/artist/album and the licence and attribution taken
  from the package's ``copyright`` file.

Frets on Fire songs ship as stems played together by the game: ``song.ogg`` is the
backing track (drums, bass, rhythm guitar; one is even tagged "fof rhythm"), and
``guitar.ogg`` the lead guitar (optionally ``rhythm.ogg``/``drums.ogg``). Neither alone
is the song, so :func:`fetch_packages` sums them into ``full_mix.ogg`` beside them, and
the catalog uses that file; without it (e.g. unpacked by hand), ``song.ogg``.

``supertuxkart-data`` and ``neverball-data`` are reserved for an independent held-out
evaluation and are refused everywhere in this module.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from configparser import ConfigParser
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import MuseChatError

# Game soundtracks in Debian main (hence DFSG-free) that decode with PyAV/libsndfile.
# Left out on purpose: fb-music-high (one XM tracker module, which the bundled FFmpeg
# cannot decode) and xblast-tnt-musics (headerless raw PCM).
DEMO_PACKAGES: tuple[str, ...] = (
    "wesnoth-1.16-music",
    "warzone2100-music",
    "nexuiz-music",
    "fretsonfire-songs-muldjord",
    "fretsonfire-songs-sectoid",
    "hedgewars-data",
    "ufoai-music",
    "hyperrogue-music",
    "singularity-music",
    "drascula-music",
    "planetblupi-music-ogg",
    "asc-music",
    "marsshooter-data",
    "extremetuxracer-data",
    "lincity-ng-data",
)

# Held out for an independent evaluation: data from these games must never enter the
# project (catalog, training or development evaluation). Prefix match, so that
# variants such as ``neverball-common`` or ``neverputt-data`` are refused too.
RESERVED_PREFIXES: tuple[str, ...] = ("supertuxkart", "neverball", "neverputt")

AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {".ogg", ".oga", ".opus", ".mp3", ".flac", ".wav", ".m4a", ".aac"}
)

# Shorter audio is a jingle or a sound effect, not music for a catalog.
MIN_SECONDS = 20.0

# Game each package belongs to; the album when the files themselves name none.
PACKAGE_ALBUMS: dict[str, str] = {
    "wesnoth-1.16-music": "The Battle for Wesnoth",
    "warzone2100-music": "Warzone 2100",
    "nexuiz-music": "Nexuiz",
    "fretsonfire-songs-muldjord": "Frets on Fire songs: Muldjord",
    "fretsonfire-songs-sectoid": "Frets on Fire songs: Sectoid",
    "hedgewars-data": "Hedgewars",
    "ufoai-music": "UFO: Alien Invasion",
    "hyperrogue-music": "HyperRogue",
    "singularity-music": "Endgame: Singularity",
    "drascula-music": "Drascula: The Vampire Strikes Back",
    "planetblupi-music-ogg": "Planet Blupi",
    "asc-music": "Advanced Strategic Command",
    "marsshooter-data": "M.A.R.S.",
    "extremetuxracer-data": "Extreme Tux Racer",
    "lincity-ng-data": "LinCity-NG",
}

# Packages that also hold sound effects or voices: only these folders are music.
# (Matched against the path inside the package, '*' crossing '/'.)
MUSIC_ONLY_GLOBS: dict[str, tuple[str, ...]] = {
    "hedgewars-data": ("*/Data/Music/*",),
    "hyperrogue-music": ("*/music/*",),
    "ufoai-music": ("*/music/*",),
    "nexuiz-music": ("*/cdtracks/*",),
    "marsshooter-data": ("*/audio/music/*", "*/audio/menu.ogg", "*/audio/tutorial.ogg"),
    "extremetuxracer-data": ("*/etr/music/*",),
    "lincity-ng-data": ("*/lincity-ng/music/*",),
}

# Packages whose music files have no suffix (the game adds none): these folders hold
# only music, read by its content like any other audio.
SUFFIXLESS_MUSIC_GLOBS: dict[str, tuple[str, ...]] = {
    "blobwars-data": ("*/blobwars/music/*",),
}

FOF_MIX_NAME = "full_mix.ogg"
# Frets on Fire stems in the order the game layers them; song.ogg is always present.
_FOF_STEMS = ("song.ogg", "guitar.ogg", "rhythm.ogg", "drums.ogg")
_DONE_MARKER = ".extracted"
_DEB_CACHE = ".debs"


class SourcesError(MuseChatError):
    """Base for errors while fetching or reading the catalog's source packages."""


class ReservedPackageError(SourcesError, ValueError):
    """A package reserved for the held-out evaluation was asked for."""

    def __init__(self, package: str):
        self.package = package
        super().__init__(
            f"{package} is reserved for the independent held-out evaluation and must "
            "not be used in the project"
        )


class AptUnavailableError(SourcesError):
    """``apt-get`` or ``dpkg`` is not installed, so Debian packages cannot be fetched."""


class PackageFetchError(SourcesError):
    """Some packages could not be fetched; the others were.

    ``failed`` maps package name -> short reason; ``fetched`` holds the extracted
    directories of the packages that worked, in request order.
    """

    def __init__(self, failed: dict[str, str], fetched: list[Path]):
        self.failed = dict(failed)
        self.fetched = list(fetched)
        names = ", ".join(f"{p} ({why})" for p, why in self.failed.items())
        super().__init__(f"could not fetch {len(self.failed)} package(s): {names}")


@dataclass
class SourceTrack:
    """One piece of music from a Debian package.

    ``path`` is the audio file; ``licence`` a short licence name (SPDX-like, as the
    Debian copyright file spells it, e.g. ``GPL-2+`` or ``CC-BY-SA-3.0``);
    ``attribution`` a one-line credit suitable for showing with the track;
    ``source`` the Debian package name.
    """

    path: Path
    title: str
    artist: str | None
    album: str | None
    licence: str
    attribution: str
    source: str
    duration_s: float = 0.0
    size_bytes: int = 0
    genre: str | None = None
    copyright: str = ""
    # Where title/artist came from: "song.ini", "album.json", "tags", "filename", ...
    metadata_from: str = ""
    # Files mixed into ``path`` (Frets on Fire stems); empty for a single file.
    stems: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        """Stable id: ``<package>/<path inside the package>``."""
        parts = self.path.parts
        if self.source in parts:
            i = len(parts) - 1 - parts[::-1].index(self.source)
            return "/".join((self.source, *parts[i + 1 :]))
        return f"{self.source}/{self.path.name}"


# --------------------------------------------------------------------------- guard


def is_reserved(package: str) -> bool:
    """True for packages of the held-out evaluation (see ``RESERVED_PREFIXES``)."""
    name = package.strip().lower()
    return any(name == p or name.startswith(p + "-") for p in RESERVED_PREFIXES)


def check_not_reserved(packages: Iterable[str]) -> None:
    """Raise :class:`ReservedPackageError` for the first reserved package name."""
    for p in packages:
        if is_reserved(p):
            raise ReservedPackageError(p)


# --------------------------------------------------------------------------- fetching


def fetch_packages(
    dest: Path,
    packages: Sequence[str] = DEMO_PACKAGES,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Download and unpack Debian packages into ``dest/<package>/``.

    Inputs: ``dest`` (created if missing), package names, and an optional
    ``progress`` callback that receives one short line per step.
    Output: the extracted package directories, in request order.

    Idempotent: ``.deb`` files are cached in ``dest/.debs/`` and a package whose
    directory was completely extracted before is not touched again. Works as root and
    as a normal user. Raises :class:`ReservedPackageError` before doing anything if a
    reserved package is named, :class:`AptUnavailableError` if apt-get/dpkg are
    missing, and, after trying every package, :class:`PackageFetchError` listing the
    ones that failed (its ``fetched`` holds the others).
    """
    packages = list(dict.fromkeys(packages))  # keep order, drop repeats
    check_not_reserved(packages)
    say = progress or (lambda _msg: None)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    cache = dest / _DEB_CACHE
    cache.mkdir(exist_ok=True)

    fetched: list[Path] = []
    failed: dict[str, str] = {}
    tools_checked = False
    updated = False
    for pkg in packages:
        out = dest / pkg
        if (out / _DONE_MARKER).exists():
            say(f"{pkg}: already extracted")
            fetched.append(out)
            continue
        if not tools_checked:
            _require_tools()
            tools_checked = True
        try:
            deb = _cached_deb(cache, pkg)
            if deb is None:
                say(f"{pkg}: downloading")
                deb, updated = _download(pkg, cache, updated, say)
            else:
                say(f"{pkg}: using cached {deb.name}")
            say(f"{pkg}: extracting")
            _extract(deb, out)
            _prepare(out, say)
            (out / _DONE_MARKER).write_text(deb.name + "\n")
            fetched.append(out)
        except SourcesError as e:
            failed[pkg] = str(e)
            say(f"{pkg}: FAILED: {e}")
    if failed:
        raise PackageFetchError(failed, fetched)
    return fetched


def _require_tools() -> None:
    missing = [t for t in ("apt-get", "dpkg") if shutil.which(t) is None]
    if missing:
        raise AptUnavailableError(
            f"{' and '.join(missing)} not found: fetching the demo music needs a Debian "
            "or Ubuntu system (or unpack the .deb files into the destination by hand)"
        )


def _cached_deb(cache: Path, pkg: str) -> Path | None:
    # apt-get names files <pkg>_<version>_<arch>.deb; take the newest if several.
    debs = sorted(cache.glob(f"{pkg}_*.deb"), key=lambda p: p.stat().st_mtime)
    return debs[-1] if debs else None


_LISTS_MISSING = re.compile(r"Unable to locate package|has no installation candidate")


def _download(
    pkg: str, cache: Path, updated: bool, say: Callable[[str], None]
) -> tuple[Path, bool]:
    """Download one .deb into ``cache``; returns (path, whether apt-get update ran)."""
    # A private folder per download, so a half-written file never looks cached.
    with tempfile.TemporaryDirectory(prefix=f".{pkg}-", dir=cache) as tmp:
        proc = _apt_download(pkg, Path(tmp))
        if proc.returncode != 0 and _LISTS_MISSING.search(proc.stderr) and not updated:
            # The package lists may be missing (fresh container); refresh once.
            updated = True
            if os.geteuid() != 0:
                raise SourcesError(
                    "not in the package lists; run `sudo apt-get update` and retry"
                )
            say("apt package lists missing or stale: running apt-get update")
            upd = _run(["apt-get", "update"], cwd=Path(tmp))
            if upd.returncode != 0:
                raise SourcesError(f"apt-get update failed: {_last_line(upd.stderr)}")
            proc = _apt_download(pkg, Path(tmp))
        if proc.returncode != 0:
            raise SourcesError(f"apt-get download failed: {_last_line(proc.stderr)}")
        debs = list(Path(tmp).glob("*.deb"))
        if len(debs) != 1:
            raise SourcesError(f"apt-get download produced {len(debs)} .deb files")
        final = cache / debs[0].name
        os.replace(debs[0], final)
    return final, updated


def _apt_download(pkg: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return _run(["apt-get", "download", "-q", pkg], cwd=cwd)


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # C locale so that apt's messages can be recognised.
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    try:
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise AptUnavailableError(f"{cmd[0]} not found") from e


def _last_line(text: str) -> str:
    # apt warns about the _apt sandbox when run as root; the error is the last E: line.
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("E:")]
    return (errors or lines or ["no message"])[-1][:200]


def _extract(deb: Path, out: Path) -> None:
    """``dpkg -x`` into a fresh ``out`` (a partial earlier attempt is removed)."""
    if out.exists():
        shutil.rmtree(out)
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    proc = _run(["dpkg", "-x", str(deb), str(tmp)], cwd=deb.parent)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SourcesError(f"dpkg -x failed: {_last_line(proc.stderr)}")
    os.replace(tmp, out)


def _prepare(pkg_dir: Path, say: Callable[[str], None]) -> None:
    """Make the package's music readable: unpack .pk3 audio, mix Frets on Fire stems."""
    for pk3 in sorted(pkg_dir.rglob("*.pk3")):
        n = unpack_pk3_audio(pk3)
        say(f"{pkg_dir.name}: unpacked {n} audio files from {pk3.name}")
    for ini in sorted(pkg_dir.rglob("song.ini")):
        if (ini.parent / "song.ogg").is_file():
            mix_fof_song(ini.parent)


def unpack_pk3_audio(pk3: Path) -> int:
    """Extract the audio members of a ``.pk3`` (zip) archive next to it.

    Quake-engine games overlay a pk3's contents on the folder that holds it, so the
    files land where the game (and the package's copyright globs) expect them:
    ``base/0music.pk3:music/x.ogg`` -> ``base/music/x.ogg``. Returns the count written.
    """
    root = pk3.parent.resolve()
    n = 0
    with zipfile.ZipFile(pk3) as z:
        for info in z.infolist():
            if info.is_dir() or Path(info.filename).suffix.lower() not in AUDIO_EXTENSIONS:
                continue
            target = (root / info.filename).resolve()
            if not target.is_relative_to(root):  # refuse ../ tricks in member names
                continue
            if target.exists() and target.stat().st_size == info.file_size:
                n += 1
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            n += 1
    return n


def mix_fof_song(song_dir: Path) -> Path:
    """Sum a Frets on Fire song's stems into ``song_dir/full_mix.ogg`` (Ogg Vorbis).

    The game plays the stems together at equal gain, so the plain sum is the song;
    it is scaled down only if it would clip. Returns the mix path (kept if present).
    """
    import numpy as np
    import soundfile as sf

    out = song_dir / FOF_MIX_NAME
    if out.exists():
        return out
    stems = [song_dir / s for s in _FOF_STEMS if (song_dir / s).is_file()]
    if len(stems) == 1:
        return stems[0]
    arrays, rate = [], None
    for s in stems:
        data, sr = sf.read(s, dtype="float32", always_2d=True)
        if rate is not None and sr != rate:
            raise SourcesError(f"{s}: sample rate {sr} differs from {rate}")
        rate = sr
        arrays.append(data)
    channels = max(a.shape[1] for a in arrays)
    length = max(a.shape[0] for a in arrays)
    mix = np.zeros((length, channels), dtype=np.float32)
    for a in arrays:
        mix[: a.shape[0]] += a if a.shape[1] == channels else a[:, :1]
    peak = float(np.abs(mix).max(initial=0.0))
    if peak > 0.99:
        mix *= 0.99 / peak
    tmp = out.with_name(out.name + ".tmp")
    # Written in blocks: libsndfile 1.2's Vorbis encoder crashes (segfault) when
    # handed a whole song in one call.
    with sf.SoundFile(tmp, "w", rate, channels, format="OGG", subtype="VORBIS") as f:
        for i in range(0, length, 1 << 16):
            f.write(mix[i : i + (1 << 16)])
    os.replace(tmp, out)
    return out


# --------------------------------------------------------------------------- copyright


@dataclass
class _Stanza:
    patterns: list[re.Pattern[str]]
    licence: str
    copyright: str
    is_catch_all: bool


@dataclass
class CopyrightInfo:
    """What a package's ``copyright`` file says, enough to credit one file.

    ``stanzas`` are the DEP-5 ``Files:`` paragraphs (empty for a free-form file);
    ``licence``/``copyright`` the package-wide values; ``upstream_name`` the DEP-5
    ``Upstream-Name`` (the game), if given.
    """

    licence: str
    copyright: str
    stanzas: list[_Stanza] = field(default_factory=list)
    upstream_name: str | None = None

    def lookup(self, rel_path: str) -> tuple[str, str, bool]:
        """(licence, copyright, specific) for a path inside the package.

        DEP-5 globs are relative to the *source* tree while ``rel_path`` is the
        installed path, so a glob matches if it matches any trailing part of the path
        (``music/x.ogg`` matches ``usr/share/hyperrogue/music/x.ogg``). As in DEP-5,
        the last matching paragraph wins. ``specific`` is False for the ``*`` or
        package-wide answer.
        """
        parts = rel_path.strip("/").split("/")
        tails = ["/".join(parts[i:]) for i in range(len(parts))]
        hit: _Stanza | None = None
        for st in self.stanzas:
            if any(p.fullmatch(t) for p in st.patterns for t in tails):
                hit = st
        if hit is None:
            return self.licence, self.copyright, False
        return hit.licence, hit.copyright, not hit.is_catch_all


def _glob_to_regex(glob: str) -> re.Pattern[str]:
    # DEP-5 globs know only '*' (any characters, '/' included) and '?'.
    rx = re.escape(glob).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(rx)


def _parse_paragraphs(text: str) -> list[dict[str, str]]:
    """Debian control-file paragraphs -> list of {field: value} (lower-case keys)."""
    paras: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    key: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if cur:
                paras.append(cur)
            cur, key = {}, None
        elif line[0] in " \t":
            if key is not None:
                cont = line.strip()
                cur[key] += "\n" + ("" if cont == "." else cont)
        elif ":" in line:
            k, v = line.split(":", 1)
            key = k.strip().lower()
            cur[key] = v.strip()
        # any other line is malformed; ignore it
    if cur:
        paras.append(cur)
    return paras


def _short_copyright(value: str, limit: int = 3) -> str:
    lines = [ln.strip() for ln in value.splitlines() if ln.strip()]
    text = "; ".join(lines[:limit])
    return text + ("; et al." if len(lines) > limit else "")


def parse_copyright(text: str) -> CopyrightInfo:
    """Parse a Debian ``copyright`` file (DEP-5 or free-form) into :class:`CopyrightInfo`."""
    first = text.lstrip()[:200].lower()
    # "copyright-format/1.0", or the URL of the DEP-5 draft that older packages name.
    if first.startswith("format:") and ("copyright-format" in first or "deps/dep5" in first):
        stanzas: list[_Stanza] = []
        paras = _parse_paragraphs(text)
        upstream = (paras[0].get("upstream-name") or None) if paras else None
        for para in paras:
            if "files" not in para:
                continue
            globs = para["files"].split()
            lic = para.get("license", "").split("\n", 1)[0].strip() or "unknown"
            stanzas.append(
                _Stanza(
                    patterns=[_glob_to_regex(g) for g in globs],
                    licence=lic,
                    copyright=_short_copyright(para.get("copyright", "")),
                    is_catch_all=globs == ["*"],
                )
            )
        catch_all = next((s for s in stanzas if s.is_catch_all), None)
        if catch_all is not None:
            return CopyrightInfo(catch_all.licence, catch_all.copyright, stanzas, upstream)
        return CopyrightInfo(
            detect_licence(text), _freeform_copyright(text), stanzas, upstream
        )
    return CopyrightInfo(detect_licence(text), _freeform_copyright(text))


# (regex, licence name or format string filled with the version group), searched in
# free-form text; the earliest match in the text wins, as the main licence is usually
# stated first (third-party parts come after).
_LICENCE_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"creativecommons\.org/licenses/by-sa/(\d\.\d)", re.I), "CC-BY-SA-{}"),
    (re.compile(r"creativecommons\.org/licenses/by/(\d\.\d)", re.I), "CC-BY-{}"),
    (re.compile(r"Attribution[-\s]+Share[-\s]?Alike\s+(?:licen[cs]e\s+)?(\d\.\d)", re.I),
     "CC-BY-SA-{}"),
    (re.compile(r"\bBY-SA\s+(\d\.\d)"), "CC-BY-SA-{}"),
    (re.compile(r"Creative Commons Attribution\s+(\d\.\d)", re.I), "CC-BY-{}"),
    (re.compile(r"GNU (?:Lesser|Library) General Public License", re.I), "LGPL"),
    (re.compile(r"GNU General Public License", re.I), "GPL"),
    (re.compile(r"Permission is hereby granted, free of charge", re.I), "Expat"),
    (re.compile(r"\bpublic domain\b", re.I), "public-domain"),
]


def detect_licence(text: str) -> str:
    """Best guess of the main licence of a free-form copyright text ("unknown" if none)."""
    best: tuple[int, str] | None = None
    for rx, name in _LICENCE_PATTERNS:
        m = rx.search(text)
        if m and (best is None or m.start() < best[0]):
            if name in ("GPL", "LGPL"):
                name = name + _gpl_version(text[m.start() : m.start() + 400])
            elif "{}" in name:
                name = name.format(m.group(1))
            best = (m.start(), name)
    return best[1] if best else "unknown"


def _gpl_version(after: str) -> str:
    flat = " ".join(after.split())
    m = re.search(r"version (\d)(?:\.\d)?", flat, re.I)
    if not m:
        return ""
    later = re.search(r"any later version|or later", flat, re.I)
    return f"-{m.group(1)}" + ("+" if later else "")


_COPYRIGHT_LINE = re.compile(
    r"(?:copyright\s*(?:\(c\)|©)?|©)\s*:?\s*((?:19|20)\d\d\b.*)", re.I
)


def _freeform_copyright(text: str) -> str:
    # Holders named after "Copyright (C) <year>" / "© <year>", packaging lines skipped.
    found = []
    for line in text.splitlines():
        m = _COPYRIGHT_LINE.search(line)
        if m and "debian" not in line.lower():
            found.append(" ".join(m.group(1).split()))
    return _short_copyright("\n".join(found))


# --------------------------------------------------------------------------- tracks


def demo_tracks(
    root: Path,
    packages: Iterable[str] | None = None,
    min_seconds: float = MIN_SECONDS,
) -> list[SourceTrack]:
    """Every piece of music in the packages extracted under ``root``.

    Inputs: ``root`` as filled by :func:`fetch_packages` (``root/<package>/usr/...``);
    optionally the package names to read (default: every package directory there);
    the shortest duration that counts as music.
    Output: tracks sorted by package then path. Title/artist/album come from, in
    order: a Frets on Fire ``song.ini``, a Warzone-style ``album.json``, a
    ``credits.txt`` (``file=artist``), the file's own tags, the copyright file's
    holder of a file-specific paragraph, and the file name. Raises
    :class:`ReservedPackageError` if a reserved package is asked for or present.
    """
    root = Path(root)
    if packages is None:
        pkg_dirs = sorted(
            p for p in root.iterdir()
            # an unpacked .deb has usr/; skips caches, partial extractions, other output
            if p.is_dir() and not p.name.startswith(".") and (p / "usr").is_dir()
        )
    else:
        pkg_dirs = [root / p for p in packages]
    check_not_reserved(p.name for p in pkg_dirs)
    tracks: list[SourceTrack] = []
    for pkg_dir in pkg_dirs:
        if pkg_dir.is_dir():
            tracks.extend(_package_tracks(pkg_dir, min_seconds))
    return tracks


def _package_tracks(pkg_dir: Path, min_seconds: float) -> list[SourceTrack]:
    pkg = pkg_dir.name
    cfile = pkg_dir / "usr/share/doc" / pkg / "copyright"
    info = (
        parse_copyright(cfile.read_text(errors="replace"))
        if cfile.is_file()
        else CopyrightInfo("unknown", "")
    )
    files = _music_files(pkg_dir)
    rows = []
    for path, stems, tag_file in files:
        duration = _duration(path)
        if duration is None or duration < min_seconds:
            continue
        rows.append((path, stems, tag_file, duration, _read_tags(tag_file)))

    # A tag title shared by different files is a copy-paste error in the tags (seen in
    # hyperrogue-music); the file name is a better title then.
    title_counts = Counter(t["title"] for *_, t in rows if t.get("title"))
    tracks = []
    for path, stems, tag_file, duration, tags in rows:
        rel = path.relative_to(pkg_dir).as_posix()
        licence, holder, specific = info.lookup(rel)
        meta = _metadata(path, tag_file, tags, title_counts)
        meta["album"] = meta["album"] or PACKAGE_ALBUMS.get(pkg) or info.upstream_name
        if not specific:
            # A free-form or catch-all copyright says little about one track: prefer
            # a licence URL and a copyright line in the file's own tags.
            licence = _cc_from_url(tags.get("license", "")) or licence
            holder = tags.get("copyright") or holder
        if not meta["artist"] and specific and holder and ";" not in holder:
            # One named holder of a file-specific paragraph: the composer.
            meta["artist"] = _clean_person(holder) or None
            meta["metadata_from"] += "+copyright"
        tracks.append(
            SourceTrack(
                path=path,
                title=meta["title"],
                artist=meta["artist"],
                album=meta["album"],
                licence=licence,
                attribution=_attribution(meta["title"], meta["artist"], holder, licence, pkg),
                source=pkg,
                duration_s=round(duration, 2),
                size_bytes=path.stat().st_size,
                genre=tags.get("genre"),
                copyright=holder,
                metadata_from=meta["metadata_from"],
                stems=stems,
            )
        )
    return tracks


def _music_files(pkg_dir: Path) -> list[tuple[Path, tuple[Path, ...], Path]]:
    """(audio file, stems it was mixed from, file whose tags describe it), sorted."""
    globs = [_glob_to_regex(g) for g in MUSIC_ONLY_GLOBS.get(pkg_dir.name, ())]
    bare = [_glob_to_regex(g) for g in SUFFIXLESS_MUSIC_GLOBS.get(pkg_dir.name, ())]
    real_root = pkg_dir.resolve()
    seen: set[Path] = set()
    out = []
    fof_dirs: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(pkg_dir):
        dirnames.sort()
        d = Path(dirpath)
        if d == pkg_dir / "usr/share/doc":
            dirnames.clear()
            continue
        if "song.ini" in filenames and "song.ogg" in filenames:
            fof_dirs.add(d)
            continue
        for name in sorted(filenames):
            p = d / name
            rel = p.relative_to(pkg_dir).as_posix()
            if p.suffix.lower() not in AUDIO_EXTENSIONS and not (
                    not p.suffix and any(g.fullmatch(rel) for g in bare)):
                continue
            if globs and not any(g.fullmatch(rel) for g in globs):
                continue
            real = p.resolve()
            # Symlinked copies (e.g. one per game language) count once; links that
            # leave the package point at files we do not have.
            if real in seen or not real.is_relative_to(real_root) or not real.is_file():
                continue
            seen.add(real)
            out.append((p, (), p))
    for d in sorted(fof_dirs):
        stems = tuple(d / s for s in _FOF_STEMS if (d / s).is_file())
        mix = d / FOF_MIX_NAME
        if mix.is_file():
            out.append((mix, stems, d / "song.ogg"))
        else:
            out.append((d / "song.ogg", (), d / "song.ogg"))
    out.sort(key=lambda r: r[0].as_posix())
    return out


def _duration(path: Path) -> float | None:
    """Length in seconds from the container header (mutagen), decoders as fallback."""
    try:
        import mutagen

        f = mutagen.File(path)
        if f is not None and getattr(f.info, "length", 0):
            return float(f.info.length)
    except Exception:  # noqa: BLE001 - any unreadable header: try the decoders
        pass
    try:
        import soundfile as sf

        return float(sf.info(str(path)).duration)
    except Exception:  # noqa: BLE001
        pass
    try:
        import av

        with av.open(str(path)) as c:
            if c.duration:
                return c.duration / 1_000_000
    except Exception:  # noqa: BLE001 - not audio we can read: skipped by the caller
        pass
    return None


_JUNK_VALUES = {"", "none", "non", "unknown", "<unknown>", "(none)", "untitled", "n/a", "-"}
# Tag values that carry no information: a bare web address, a copyright notice in the
# album field, a generic "03 - Track 03" title from a ripping tool.
_URL_ONLY = re.compile(r"^\(?(?:https?://|www\.)\S+$", re.I)
_GENERIC_TITLE = re.compile(r"^(?:\d+\s*[-.]\s*)?(?:audio\s*)?track\s*\d+$", re.I)
_AUDIO_SUFFIX = re.compile(r"\.(?:ogg|oga|opus|mp3|flac|wav|m4a|aac)$", re.I)


def _read_tags(path: Path) -> dict[str, str]:
    """First value of the common tags, lower-case keys; junk values dropped."""
    try:
        import mutagen

        f = mutagen.File(path, easy=True)
    except Exception:  # noqa: BLE001 - untagged or unreadable: no tags
        return {}
    if f is None or not f.tags:
        return {}
    out: dict[str, str] = {}
    for k in ("title", "artist", "album", "genre", "copyright", "license", "composer"):
        try:
            v = f.tags.get(k)
        except Exception:  # noqa: BLE001 - EasyID3 raises for keys it cannot map
            v = None
        if isinstance(v, list):
            v = v[0] if v else None
        v = " ".join(str(v).split()) if v is not None else ""
        if k == "title":
            v = _AUDIO_SUFFIX.sub("", v)
            if _GENERIC_TITLE.match(v):
                continue
        if k in ("artist", "album") and (_URL_ONLY.match(v) or v.lower().startswith("(c)")):
            continue
        if v.lower() not in _JUNK_VALUES:
            out[k] = v
    return out


def _metadata(
    path: Path, tag_file: Path, tags: dict[str, str], title_counts: Counter[str]
) -> dict[str, str | None]:
    title = artist = album = None
    sources: list[str] = []

    ini = tag_file.parent / "song.ini"
    if ini.is_file():
        song = _read_song_ini(ini)
        title, artist, album = song.get("name"), song.get("artist"), song.get("album")
        if title or artist:
            sources.append("song.ini")

    entry, album_title = _album_json_entry(path)
    if entry:
        title = title or entry.get("title")
        artist = artist or entry.get("author")
        album = album or album_title
        sources.append("album.json")

    credit = _credits_entry(path)
    if credit and not artist:
        artist = credit
        sources.append("credits.txt")

    tag_title = tags.get("title")
    if tag_title and title_counts.get(tag_title, 0) > 1:
        tag_title = None
    if not title and tag_title:
        title = tag_title
        sources.append("tags")
    if not artist and tags.get("artist"):
        artist = tags["artist"]
        if "tags" not in sources:
            sources.append("tags")
    album = album or tags.get("album")

    if not title:
        title = prettify_filename(
            tag_file.parent.name if path.name == FOF_MIX_NAME or ini.is_file() else path.stem
        )
        sources.append("filename")
    return {
        "title": title,
        "artist": (_clean_person(artist) or None) if artist else None,
        "album": album,
        "metadata_from": "+".join(dict.fromkeys(sources)),
    }


def _read_song_ini(ini: Path) -> dict[str, str]:
    cp = ConfigParser(interpolation=None, strict=False)
    try:
        cp.read_string(ini.read_text(errors="replace"))
    except Exception:  # noqa: BLE001 - a broken song.ini: fall back to tags
        return {}
    if not cp.has_section("song"):
        return {}
    return {
        k: " ".join(v.split())
        for k, v in cp.items("song")
        if k in ("name", "artist", "album", "genre", "year")
        and v.strip().lower() not in _JUNK_VALUES
    }


def _album_json_entry(path: Path) -> tuple[dict[str, str] | None, str | None]:
    # Warzone 2100 describes each album folder in album.json: {"title", "tracks":
    # [{"filename", "title", "author"}]}.
    aj = path.parent / "album.json"
    if not aj.is_file():
        return None, None
    try:
        data = json.loads(aj.read_text(errors="replace"))
    except ValueError:
        return None, None
    for t in data.get("tracks", []) if isinstance(data, dict) else []:
        if isinstance(t, dict) and t.get("filename") == path.name:
            return {k: str(v) for k, v in t.items() if isinstance(v, str)}, data.get("title")
    return None, None


def _credits_entry(path: Path) -> str | None:
    # Hedgewars lists composers as "<file>=<artist>" in the music folder's credits.txt
    # (with the file name's case not always matching the file's).
    cf = path.parent / "credits.txt"
    if not cf.is_file():
        return None
    for line in cf.read_text(errors="replace").splitlines():
        name, sep, who = line.partition("=")
        if sep and name.strip().lower() == path.name.lower() and who.strip():
            return who.strip()
    return None


def _clean_person(s: str) -> str:
    """'Composed and performed by X' / 'X - www.x.com' / 'X <mail>' -> 'X'."""
    s = re.sub(
        r"^(?:composed|performed|written|music)(?:\s+and\s+\w+)?\s+by\s+", "", s, flags=re.I
    )
    s = re.sub(r"\s*<[^>]*>", "", s)  # e-mail or URL in angle brackets
    s = re.sub(r"\s*\((?:https?://|www\.)[^)]*\)", "", s)
    s = re.sub(r"\s*[-–]\s*(?:https?://|www\.)\S+\s*$", "", s)
    s = re.sub(r'\s+-\s+".*$', "", s)  # 'Kevin MacLeod - "Hitman" [edit]'
    s = re.sub(  # leading "(c) 2004-2007," years
        r"^(?:\(c\)|©)?\s*(?:19|20)\d\d(?:\s*[-,]\s*(?:19|20)?\d\d)*,?\s*", "", s, flags=re.I
    )
    return " ".join(s.split())


def _cc_from_url(url: str) -> str | None:
    m = re.search(r"creativecommons\.org/licenses/([a-z-]+)/(\d\.\d)", url, re.I)
    return f"CC-{m.group(1).upper()}-{m.group(2)}" if m else None


def prettify_filename(stem: str) -> str:
    """'hr3-caves' -> 'Hr3 Caves', 'MarineAlienRaid' -> 'Marine Alien Raid',
    'track6' -> 'Track 6'."""
    s = re.sub(r"[_\-.]+", " ", stem)
    s = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", s)  # camelCase
    s = re.sub(r"(?<=[A-Za-z]{3})(?=\d)", " ", s)  # track6 (but keep hr3)
    words = [w[:1].upper() + w[1:] if w.islower() else w for w in s.split()]
    return " ".join(words) or stem


def _attribution(title: str, artist: str | None, holder: str, licence: str, pkg: str) -> str:
    who = f" by {artist}" if artist else ""
    owner = f", © {holder}" if holder else ""
    return f'"{title}"{who}{owner}, licence {licence}, from Debian package {pkg}'


# --------------------------------------------------------------------------- summary


def summarize(tracks: Sequence[SourceTrack]) -> dict[str, dict[str, float]]:
    """Per package: {"tracks", "hours", "megabytes"}, plus a "TOTAL" row."""
    out: dict[str, dict[str, float]] = {}
    for t in tracks:
        row = out.setdefault(t.source, {"tracks": 0, "hours": 0.0, "megabytes": 0.0})
        row["tracks"] += 1
        row["hours"] += t.duration_s / 3600
        row["megabytes"] += t.size_bytes / 1e6
    total = {k: sum(r[k] for r in out.values()) for k in ("tracks", "hours", "megabytes")}
    out["TOTAL"] = total
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m core.catalog.sources DEST``: fetch the demo packages, list tracks."""
    import argparse
    import time

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("dest", type=Path)
    ap.add_argument("--packages", nargs="*", default=list(DEMO_PACKAGES))
    ap.add_argument("--jsonl", type=Path, help="also write the track list here")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    rc = 0
    try:
        fetch_packages(args.dest, args.packages, progress=print)
    except PackageFetchError as e:
        print(e)
        rc = 1
    t1 = time.monotonic()
    tracks = demo_tracks(args.dest, [p for p in args.packages if (args.dest / p).is_dir()])
    for name, row in summarize(tracks).items():
        print(
            f"{name:30s} {row['tracks']:5d} tracks {row['hours']:6.2f} h"
            f" {row['megabytes']:8.1f} MB"
        )
    print(f"fetch {t1 - t0:.1f} s, scan {time.monotonic() - t1:.1f} s")
    if args.jsonl:
        with open(args.jsonl, "w") as f:
            for t in tracks:
                d = {k: v for k, v in t.__dict__.items() if k != "stems"}
                d["path"] = str(t.path)
                d["stems"] = [str(s) for s in t.stems]
                d["key"] = t.key
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
