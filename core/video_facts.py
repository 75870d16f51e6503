"""Measured facts about a video: pace, light, colour, and confident content labels.

These are the only things MuseChat says about what a video shows, and they feed the
turn-1 query beside the frame features. Each fact is a measurement on the decoded
frames (no model guesses), except ``labels``: a content label is kept only when a model
gives it a probability at or above its threshold, and it carries that probability.

Frames come from :func:`core.media.decode_video` with a *burst* per sample point: a few
frames a fraction of a second apart at each of the evenly spaced sample times, so that
neighbouring frames show motion (and cuts) rather than a different part of the video.

- **pace**: ``motion`` is the mean absolute change of the grey image per second between
  neighbouring frames of a burst, at 32x32, in luma units (0..1), cuts excluded; a pair
  of frames whose images jump far more than the footage's own motion counts as a cut, and ``cuts_per_min``
  scales the cuts seen to a minute of the time the bursts span.
- **light**: ``brightness`` (mean luma, 0..1) and ``contrast`` (standard deviation of luma).
- **colour**: ``colourfulness`` (Hasler and Süsstrunk's M on 0..255 RGB, 0 = grey, ~110 =
  extremely colourful), ``warmth`` (mean (R - B) / 255: > 0 warm, < 0 cool) and up to three
  named ``colours`` that each cover at least :data:`COLOUR_MIN_SHARE` of the pixels.

The words in :meth:`VideoFacts.statements` are fixed functions of these numbers with the
bands below; :data:`VIDEO_WORDS` says which fact each descriptive word is a claim about,
so a checker can verify any sentence about the video against the facts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

# Bump when a measurement or band changes: cached analyses of older versions are redone.
FACTS_VERSION = 1

# Burst sampling: frames per sample point and their spacing (seconds).
BURST_FRAMES = 3
BURST_STEP_S = 1 / 8
# Frames further apart than this are not compared: the change between them says more
# about the video's content than about its motion.
MAX_PAIR_GAP_S = 0.34

# Pace bands on motion (luma change per second, cuts excluded) and cuts per minute.
# A slow pan over a still changes ~0.02-0.05/s; handheld walking footage ~0.1-0.2;
# sport, racing or fast action > 0.3. Many cuts alone also make footage feel fast.
STILL_BELOW = 0.015
SLOW_BELOW = 0.08
FAST_FROM = 0.25
FAST_CUTS_PER_MIN = 20.0
# A pair of neighbouring frames is a cut, not motion, when its 32x32 grey images differ
# by more than CUT_MIN_DIFF and by more than CUT_RATIO times the median pair: a shot
# change is a jump against the footage's own motion, whatever that motion is.
CUT_MIN_DIFF = 0.06
CUT_RATIO = 4.0

DARK_BELOW = 0.28
BRIGHT_FROM = 0.62
LOW_CONTRAST_BELOW = 0.10
HIGH_CONTRAST_FROM = 0.28
MUTED_BELOW = 18.0
COLOURFUL_FROM = 55.0
WARM_FROM = 0.06
COOL_BELOW = -0.06
COLOUR_MIN_SHARE = 0.2

# Named colours by hue range (degrees) for saturated pixels; unsaturated ones are
# black, grey or white by value.
_HUES = (("red", 0, 15), ("orange", 15, 40), ("yellow", 40, 70), ("green", 70, 165),
         ("teal", 165, 195), ("blue", 195, 255), ("purple", 255, 290), ("pink", 290, 340),
         ("red", 340, 361))


@dataclass(frozen=True)
class ContentLabel:
    """A confident label for what the video shows ("snow", "vehicle") and its probability."""

    name: str
    probability: float
    source: str = ""


@dataclass
class VideoFacts:
    motion: float
    cuts_per_min: float
    brightness: float
    contrast: float
    colourfulness: float
    warmth: float
    colours: list[str] = field(default_factory=list)
    labels: list[ContentLabel] = field(default_factory=list)
    version: int = FACTS_VERSION

    # --- words --------------------------------------------------------------------
    @property
    def pace(self) -> str:
        """"still" | "slow" | "moderate" | "fast"."""
        if self.motion >= FAST_FROM or self.cuts_per_min >= FAST_CUTS_PER_MIN:
            return "fast"
        if self.motion < STILL_BELOW and self.cuts_per_min < 1.0:
            return "still"
        if self.motion < SLOW_BELOW:
            return "slow"
        return "moderate"

    @property
    def light(self) -> str | None:
        if self.brightness < DARK_BELOW:
            return "dark"
        if self.brightness >= BRIGHT_FROM:
            return "bright"
        return None

    @property
    def colour_word(self) -> str | None:
        if self.colourfulness < MUTED_BELOW:
            return "muted"
        if self.colourfulness >= COLOURFUL_FROM:
            return "colourful"
        return None

    @property
    def tone(self) -> str | None:
        if self.warmth >= WARM_FROM:
            return "warm"
        if self.warmth <= COOL_BELOW:
            return "cool"
        return None

    def values(self) -> dict[str, str]:
        """The statable value of each fact (fact key -> value), only those that hold."""
        out = {"pace": self.pace}
        for key, value in (("light", self.light), ("colour", self.colour_word), ("tone", self.tone)):
            if value:
                out[key] = value
        if self.cuts_per_min >= FAST_CUTS_PER_MIN:
            out["cuts"] = "frequent"
        elif self.cuts_per_min < 1.0:
            out["cuts"] = "none"
        return out

    def statements(self) -> list[str]:
        """Short phrases that are true of the video, most telling first:
        ["fast-paced", "frequent cuts", "dark", "warm tones", "mostly blue and white", "snow"]."""
        v = self.values()
        out = [{"still": "nearly still", "slow": "slow-moving", "moderate": "steady movement",
                "fast": "fast-paced"}[v["pace"]]]
        if v.get("cuts") == "frequent":
            out.append("frequent cuts")
        if "light" in v:
            out.append(v["light"])
        if "colour" in v:
            out.append({"muted": "muted colours", "colourful": "colourful"}[v["colour"]])
        if "tone" in v:
            out.append(f"{v['tone']} tones")
        if self.colours:
            out.append("mostly " + " and ".join(self.colours[:2]))
        out += [label.name for label in self.labels]
        return out

    def vector(self) -> np.ndarray:
        """[FACT_DIM] float32 numbers for the query: log motion, log(1 + cuts/min), brightness,
        contrast, colourfulness / 100, warmth, then a 0/1 indicator per name in :data:`COLOUR_NAMES`."""
        base = [np.log(self.motion + 1e-3), np.log1p(self.cuts_per_min), self.brightness, self.contrast,
                self.colourfulness / 100.0, self.warmth]
        return np.array(base + [float(c in self.colours) for c in COLOUR_NAMES], np.float32)

    # --- storage ------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        d["labels"] = [asdict(label) for label in self.labels]
        d["pace"] = self.pace
        d["statements"] = self.statements()
        return d

    @classmethod
    def from_dict(cls, data: dict) -> VideoFacts:
        data = {k: v for k, v in data.items() if k not in ("pace", "statements")}
        data["labels"] = [ContentLabel(**label) for label in data.get("labels", [])]
        return cls(**data)


COLOUR_NAMES = ("red", "orange", "yellow", "green", "teal", "blue", "purple", "pink", "brown", "black",
                "grey", "white")
FACT_DIM = 6 + len(COLOUR_NAMES)

# Which fact a descriptive word about the video claims, and the value it claims. A
# sentence that uses one of these words about the video is supported only if the
# facts have that value (see VideoFacts.values; colour names check VideoFacts.colours).
VIDEO_WORDS: dict[str, tuple[str, str]] = {
    **{w: ("pace", "fast") for w in ("fast-paced", "fast paced", "fast-moving", "fast moving", "frantic",
                                     "hectic", "quick cuts", "rapid")},
    **{w: ("pace", "slow") for w in ("slow-moving", "slow moving", "slow-paced", "slow paced", "leisurely",
                                     "unhurried")},
    **{w: ("pace", "still") for w in ("nearly still", "static", "motionless")},
    **{w: ("pace", "moderate") for w in ("steady movement", "steady pace")},
    "frequent cuts": ("cuts", "frequent"),
    **{w: ("light", "dark") for w in ("dark", "dim", "gloomy", "night-time", "shadowy")},
    **{w: ("light", "bright") for w in ("bright", "sunlit", "well-lit", "sunny")},
    **{w: ("colour", "muted") for w in ("muted", "washed-out", "desaturated", "monochrome")},
    **{w: ("colour", "colourful") for w in ("colourful", "colorful", "vivid", "vibrant")},
    **{w: ("tone", "warm") for w in ("warm tones", "warm light", "warm colours", "warm colors", "warm-toned")},
    **{w: ("tone", "cool") for w in ("cool tones", "cool light", "cool colours", "cool colors", "cold light",
                                     "cool-toned")},
}


# --------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------

def _grey_small(frames: np.ndarray, size: int = 32) -> np.ndarray:
    """[T, H, W, 3] uint8 -> [T, size, size] float32 luma in 0..1 (block means)."""
    t, h, w, _ = frames.shape
    luma = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0
    bh, bw = max(1, h // size), max(1, w // size)
    luma = luma[:, : bh * size, : bw * size] if h >= size and w >= size else luma
    hh, ww = luma.shape[1] // bh, luma.shape[2] // bw
    return luma[:, : hh * bh, : ww * bw].reshape(t, hh, bh, ww, bw).mean(axis=(2, 4))


def measure_pace(frames: np.ndarray, timestamps: list[float]) -> tuple[float, float]:
    """(motion per second, cuts per minute) from frames in bursts.

    ``frames`` [T, H, W, 3] uint8 with ``timestamps`` (seconds, increasing). Neighbouring
    frames at most MAX_PAIR_GAP_S apart belong to one burst; only they are compared.
    """
    if len(frames) < 2:
        return 0.0, 0.0
    grey = _grey_small(frames)
    pairs = []  # (seconds apart, mean absolute difference)
    for i in range(len(frames) - 1):
        dt = timestamps[i + 1] - timestamps[i]
        if 0 < dt <= MAX_PAIR_GAP_S:
            pairs.append((dt, float(np.abs(grey[i + 1] - grey[i]).mean())))
    if not pairs:
        return 0.0, 0.0
    typical = float(np.median([d for _, d in pairs]))
    is_cut = [d > CUT_MIN_DIFF and d > CUT_RATIO * typical for _, d in pairs]
    motions = [d / dt for (dt, d), cut in zip(pairs, is_cut) if not cut]
    span = sum(dt for dt, _ in pairs)
    motion = float(np.mean(motions)) if motions else 0.0
    return motion, sum(is_cut) / span * 60.0


def _named_colours(frames: np.ndarray) -> list[str]:
    """Names of the colours that each cover >= COLOUR_MIN_SHARE of the pixels, largest first."""
    px = frames[:, ::8, ::8].reshape(-1, 3).astype(np.float32) / 255.0
    mx, mn = px.max(1), px.min(1)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-6), 0.0)
    r, g, b = px[:, 0], px[:, 1], px[:, 2]
    delta = np.maximum(mx - mn, 1e-6)
    hue = np.where(mx == r, ((g - b) / delta) % 6, np.where(mx == g, (b - r) / delta + 2, (r - g) / delta + 4)) * 60
    names = np.empty(len(px), dtype=object)
    chromatic = (sat >= 0.25) & (mx >= 0.2)
    for name, lo, hi in _HUES:
        names[chromatic & (hue >= lo) & (hue < hi)] = name
    # Dark, desaturated orange is what people call brown.
    names[chromatic & (hue >= 15) & (hue < 45) & (mx < 0.55)] = "brown"
    names[~chromatic & (mx < 0.2)] = "black"
    names[~chromatic & (mx >= 0.2) & (mx < 0.8)] = "grey"
    names[~chromatic & (mx >= 0.8)] = "white"
    values, counts = np.unique(names.astype(str), return_counts=True)
    share = counts / counts.sum()
    order = np.argsort(-share)
    return [str(values[i]) for i in order if share[i] >= COLOUR_MIN_SHARE][:3]


def measure(frames: np.ndarray, timestamps: list[float], labels: list[ContentLabel] | None = None) -> VideoFacts:
    """All facts from decoded frames ([T, H, W, 3] uint8, with their times in seconds)."""
    frames = np.asarray(frames)
    motion, cuts = measure_pace(frames, timestamps)
    f = frames[:, ::4, ::4].astype(np.float32)  # 56x56 of a 224 frame: plenty for means and spreads
    luma = f @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0
    rg = f[..., 0] - f[..., 1]
    yb = 0.5 * (f[..., 0] + f[..., 1]) - f[..., 2]
    colourfulness = float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
    warmth = float((f[..., 0] - f[..., 2]).mean() / 255.0)
    return VideoFacts(motion=round(motion, 4), cuts_per_min=round(cuts, 2), brightness=round(float(luma.mean()), 4),
                      contrast=round(float(luma.std()), 4), colourfulness=round(colourfulness, 2),
                      warmth=round(warmth, 4), colours=_named_colours(frames), labels=list(labels or []))


# --------------------------------------------------------------------------------------
# Content labels from ImageNet probabilities
# --------------------------------------------------------------------------------------

# Coarse groups of ImageNet-1k classes (by index): a group's probability is the sum of
# its classes' probabilities, averaged over the frames. Fine classes ("hook", "envelope")
# are never stated; a coarse group is stated only at or above LABEL_THRESHOLD.
IMAGENET_GROUPS: dict[str, tuple[int, ...]] = {
    "animals": tuple(range(0, 398)),
    "road vehicles": (407, 408, 436, 444, 466, 468, 511, 547, 555, 565, 569, 573, 575, 586, 595, 603, 609, 612,
                      627, 654, 656, 661, 665, 670, 671, 675, 705, 717, 734, 751, 757, 779, 802, 803, 817, 820,
                      829, 847, 864, 866, 867, 870, 874, 880),
    "boats": (403, 472, 484, 510, 554, 576, 625, 628, 694, 724, 780, 814, 833, 871, 913, 914),
    "aircraft": (404, 405, 417, 812, 895, 908),
    "buildings": (410, 415, 424, 425, 449, 454, 483, 497, 498, 500, 538, 582, 624, 663, 668, 698, 727, 743, 762,
                  788, 832, 858, 860, 865, 873, 915),
    "mountains": (970, 972, 976, 979, 980),
    "water and shore": (460, 536, 718, 973, 975, 977, 978),
    "snow sports": (450, 537, 795, 802, 803),
    "food": tuple(range(923, 970)),
}
# The summed probability a group needs, averaged over frames, and the share of frames
# in which it must also reach LABEL_FRAME_THRESHOLD on its own: a label that holds in
# one frame is not what the video shows.
LABEL_THRESHOLD = 0.6
LABEL_FRAME_THRESHOLD = 0.5
LABEL_FRAME_SHARE = 0.5
# A model that spreads its probability over hundreds of classes is not recognising
# anything: noise puts 0.6-0.7 of its mass on the 398 animal classes that way (entropy
# ~4.7-5.2 nats against ~3.9 for real animated animals; uniform is 6.9). Above this mean
# entropy per frame no ImageNet group is stated.
LABEL_MAX_ENTROPY = 4.3


def imagenet_group_labels(probs: np.ndarray, source: str = "imagenet-groups") -> list[ContentLabel]:
    """Confident coarse labels from ImageNet class probabilities [T, 1000] (rows sum to 1),
    most probable first; empty when no group is confident."""
    probs = np.asarray(probs, np.float64)
    if probs.ndim != 2 or probs.shape[1] != 1000:
        return []
    entropy = float((-(probs * np.log(probs + 1e-12)).sum(1)).mean())
    if entropy > LABEL_MAX_ENTROPY:
        return []
    out = []
    for name, idx in IMAGENET_GROUPS.items():
        per_frame = probs[:, list(idx)].sum(1)
        p = float(per_frame.mean())
        if p >= LABEL_THRESHOLD and float((per_frame >= LABEL_FRAME_THRESHOLD).mean()) >= LABEL_FRAME_SHARE:
            out.append(ContentLabel(name, round(p, 3), source))
    return sorted(out, key=lambda label: -label.probability)
