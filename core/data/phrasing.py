"""How users word a refinement: phrase templates per fact, sentence frames, casual noise.

A preference is built from *facts* (how the wanted track differs from the one offered:
vocals, tempo, instruments, genre, mood, length, album, artist). Each fact is worded by
a :class:`Phrase` and the phrases are set into a :class:`Frame`:

* form ``"d"`` (descriptor) phrases complete "something ...": "calmer", "with more
  piano", "without vocals"; frames of form ``"d"`` hold them ("can you find
  something {D}?").
* form ``"c"`` (clause) phrases stand alone: "no vocals", "speed it up"; frames of
  form ``"c"`` hold them ("not quite: {C}").

Every phrase and frame belongs to one group, ``train``, ``val`` or ``test``, fixed by
its position in its list (:func:`group_of`), so a phrasing held out for the test split
never reaches training. Placeholders: ``{x}`` (an instrument or genre), ``{bpm}``,
``{album}``, ``{artist}``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

GROUPS = ("train", "val", "test")


def group_of(index: int) -> str:
    """The split group of the ``index``-th template of a list: 4 of 6 train, 1 val, 1 test."""
    return {1: "val", 4: "test"}.get(index % 6, "train")


@dataclass(frozen=True)
class Phrase:
    """One wording of one fact. ``id`` is ``<fact key>.<form><n>``, e.g. ``vocals.none.d3``."""

    id: str
    text: str
    form: str
    group: str


@dataclass(frozen=True)
class Frame:
    """A sentence around the phrases; ``text`` holds ``{D}`` or ``{C}``."""

    id: str
    text: str
    form: str
    group: str


# fact key -> form -> wordings. Keep at least 5 per list so that every group gets one.
_PHRASES: dict[str, dict[str, list[str]]] = {
    "vocals.none": {
        "d": ["without vocals", "with no singing", "that's purely instrumental", "without any voice",
              "with no lyrics", "instrumental", "without a singer", "with nobody singing"],
        "c": ["no vocals", "no singing please", "drop the vocals", "lose the singer",
              "the voice is distracting", "keep it instrumental", "instrumental only", "no voice this time"],
    },
    "vocals.with": {
        "d": ["with vocals", "with someone singing", "with a singer", "with lyrics",
              "with a voice on it", "that has singing", "with a vocal line"],
        "c": ["I want vocals", "add some singing", "it needs a voice", "vocals please",
              "give me a singer", "someone should be singing", "I'd like lyrics this time"],
    },
    "tempo.faster": {
        "d": ["faster", "a bit faster", "with a quicker tempo", "more uptempo", "with more pace",
              "quicker", "a lot faster"],
        "c": ["speed it up", "faster please", "pick up the pace", "too slow", "it needs more tempo",
              "this drags", "go faster"],
    },
    "tempo.slower": {
        "d": ["slower", "a bit slower", "with a slower tempo", "more laid-back in tempo", "less rushed",
              "much slower", "at a gentler pace"],
        "c": ["slow it down", "too fast", "slower please", "ease off the tempo", "this is too hurried",
              "bring the tempo down", "way too quick"],
    },
    "tempo.bpm": {
        "d": ["around {bpm} bpm", "at about {bpm} bpm", "near {bpm} bpm", "at roughly {bpm} beats per minute",
              "in the {bpm} bpm range", "somewhere around {bpm} bpm"],
        "c": ["aim for ~{bpm} bpm", "tempo around {bpm}", "{bpm} bpm or so", "something near {bpm} bpm",
              "target {bpm} bpm", "keep it at about {bpm} bpm"],
    },
    "more.instrument": {
        "d": ["with more {x}", "with {x} up front", "heavier on the {x}", "featuring {x}",
              "with lots of {x}", "where the {x} stands out", "built around {x}"],
        "c": ["more {x}", "more {x} please", "I want to hear {x}", "add {x}", "bring in some {x}",
              "it needs {x}", "give me {x}"],
    },
    "less.instrument": {
        "d": ["with less {x}", "without the {x}", "without so much {x}", "with the {x} toned down",
              "lighter on the {x}", "minus the {x}", "with no {x}"],
        "c": ["less {x}", "no {x}", "too much {x}", "drop the {x}", "cut the {x}",
              "tone down the {x}", "the {x} is too much"],
    },
    "more.genre": {
        "d": ["more {x}", "with a {x} feel", "in a {x} style", "closer to {x}", "more on the {x} side",
              "with more of a {x} vibe", "leaning {x}"],
        "c": ["more {x}", "go more {x}", "I want something {x}", "make it {x}", "{x} would fit better",
              "more of a {x} thing", "think {x}"],
    },
    "less.genre": {
        "d": ["less {x}", "not so {x}", "less on the {x} side", "without the {x} vibe", "with no {x} feel",
              "further from {x}", "that isn't {x}"],
        "c": ["less {x}", "not {x}", "too {x}", "no {x} please", "drop the {x} vibe",
              "this is too much {x}", "skip the {x}"],
    },
    "mood.calmer": {
        "d": ["calmer", "more relaxed", "softer", "gentler", "more peaceful", "less intense",
              "more chill", "not so heavy", "quieter"],
        "c": ["calm it down", "too intense", "tone it down", "something to relax to", "too aggressive",
              "make it mellower", "way too loud"],
    },
    "mood.energetic": {
        "d": ["more energetic", "more intense", "punchier", "with more energy", "livelier",
              "harder-hitting", "more driving"],
        "c": ["more energy", "too sleepy", "pump it up", "it needs more punch", "this is too calm",
              "make it more exciting", "wake it up"],
    },
    "mood.darker": {
        "d": ["darker", "moodier", "more sinister", "more melancholic", "gloomier", "more ominous",
              "sadder"],
        "c": ["too cheerful", "make it darker", "it needs a darker mood", "this is too happy", "go darker",
              "more of a sad vibe", "give it some menace"],
    },
    "mood.happier": {
        "d": ["happier", "more cheerful", "brighter", "more uplifting", "lighter in mood",
              "more playful", "sunnier"],
        "c": ["too gloomy", "cheer it up", "make it happier", "this is too sad", "something more positive",
              "lighten the mood", "too dark"],
    },
    "duration.shorter": {
        "d": ["shorter", "not as long", "that's over sooner", "a bit shorter", "more compact",
              "of shorter length"],
        "c": ["too long", "it needs to be shorter", "shorter please", "cut the length", "this runs too long",
              "keep it brief"],
    },
    "duration.longer": {
        "d": ["longer", "a bit longer", "that lasts longer", "with more length", "of longer length",
              "that goes on longer"],
        "c": ["too short", "it needs to be longer", "longer please", "this ends too soon",
              "give me a longer piece", "I need more minutes"],
    },
    "album": {
        "d": ["from the {album} soundtrack", "like the {album} music", "from {album}",
              "in the style of the {album} soundtrack", "that sounds like {album}", "off the {album} album"],
        "c": ["something from {album}", "more like the {album} stuff", "try the {album} soundtrack",
              "{album} music would fit", "I want the {album} vibe", "go with {album}"],
    },
    "artist": {
        "d": ["by {artist}", "more like {artist}", "in the style of {artist}", "that sounds like {artist}",
              "similar to {artist}'s stuff", "along the lines of {artist}"],
        "c": ["more like {artist}", "something by {artist}", "I want {artist}", "try {artist}",
              "{artist} would be great", "how about {artist}"],
    },
}

_FRAMES: dict[str, list[str]] = {
    "d": [
        "something {D}", "can you find something {D}?", "I'd like something {D}",
        "not quite, something {D}", "hmm, maybe something {D}", "try something {D}",
        "looking for something {D}", "anything {D}?", "got anything {D}?", "I need something {D}",
        "something {D} would be better", "is there a track {D}?", "anything {D} instead?",
        "show me something {D}", "nah, something {D}", "not this one. something {D}",
        "same idea but {D}", "like this but {D}", "similar, but {D}", "close, but {D} please",
    ],
    "c": [
        "{C}", "{C} please", "hmm. {C}", "not quite: {C}", "nope, {C}", "ok but {C}", "{C}!",
        "{C}, thanks", "good start, but {C}", "almost. {C}", "that's not it. {C}", "please: {C}",
        "one change: {C}", "can we try again? {C}",
    ],
}

PHRASES: dict[str, list[Phrase]] = {
    key: [
        Phrase(f"{key}.{form}{i}", text, form, group_of(i))
        for form, texts in forms.items()
        for i, text in enumerate(texts)
    ]
    for key, forms in _PHRASES.items()
}
FRAMES: list[Frame] = [
    Frame(f"{form}{i:02d}", text, form, group_of(i))
    for form, texts in _FRAMES.items()
    for i, text in enumerate(texts)
]

_EMOJI = ("🎵", "🙏", "😅", "👍", "🔥", "😌", "🎧", "🤔", "✨")


def templates_in(group: str) -> set[str]:
    """Ids of every frame and phrase of a group (to check that splits keep them apart)."""
    ids = {f.id for f in FRAMES if f.group == group}
    ids |= {p.id for ps in PHRASES.values() for p in ps if p.group == group}
    return ids


def pick_frame(rng: random.Random, group: str) -> Frame:
    """A frame of ``group`` (``val``/``test`` use only their held-out frames)."""
    return rng.choice([f for f in FRAMES if f.group == group])


def pick_phrase(rng: random.Random, key: str, form: str, group: str, held_out_share: float = 0.7) -> Phrase:
    """A wording of fact ``key`` in ``form``.

    ``train`` draws only training phrases. ``val``/``test`` draw their own held-out
    phrases with probability ``held_out_share`` and training phrases otherwise, so
    their preferences mix new and known wordings inside always-new frames.
    """
    pool = [p for p in PHRASES[key] if p.form == form]
    own = [p for p in pool if p.group == group]
    train = [p for p in pool if p.group == "train"]
    if group == "train" or not own or (train and rng.random() >= held_out_share):
        return rng.choice(train)
    return rng.choice(own)


def join(parts: list[str], form: str, rng: random.Random) -> str:
    """Phrases -> one list: "a, b and c" for descriptors; clauses also with ". " or "; "."""
    if len(parts) == 1:
        return parts[0]
    if form == "d":
        last = rng.choice([" and ", ", and ", ", "])
        return ", ".join(parts[:-1]) + last + parts[-1]
    sep = rng.choice([", ", ". ", "; ", " and "])
    if sep == ". ":  # new sentences start with a capital
        parts = [parts[0]] + [q[:1].upper() + q[1:] for q in parts[1:]]
    return sep.join(parts)


def fill(text: str, values: dict[str, str]) -> str:
    """Put values into a phrase's placeholders; "a ambient vibe" becomes "an ambient vibe"."""
    for k, v in values.items():
        text = text.replace("{" + k + "}", v)
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", text)


def add_noise(text: str, rng: random.Random) -> str:
    """Casual writing: lower case, no final stop, "pls", a typo, an emoji (each sometimes)."""
    if rng.random() < 0.15:
        text = text.replace(" please", rng.choice([" pls", " plz"]))
    if rng.random() < 0.08:
        text = _typo(text, rng)
    if rng.random() < 0.35:
        text = text.lower()
    elif text and text[0].islower():
        text = text[0].upper() + text[1:]
    if rng.random() < 0.3:
        text = text.rstrip(".!")
    if rng.random() < 0.1:
        text = text + " " + rng.choice(_EMOJI)
    return re.sub(r"\s+", " ", text).strip()


def _typo(text: str, rng: random.Random) -> str:
    # Only in long plain words, so numbers, names and short keywords survive.
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 6 and w.isalpha() and w.islower()]
    if not idx:
        return text
    i = rng.choice(idx)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :] if rng.random() < 0.5 else w[:j] + w[j + 1 :]
    return " ".join(words)
