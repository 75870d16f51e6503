"""What a user's feedback means: hard filters, a preference text, and "show it again".

Feedback is free text ("calmer, no vocals, under 2 minutes"). :func:`parse_feedback`
reads one message; :func:`accumulate` folds every message of a conversation, in order,
into what the next turn asks the engine for:

* **Hard filters** (:class:`core.engine.TrackFilter`): vocals ("no vocals",
  "instrumental", "with vocals"), length ("under 2 minutes", "shorter than 90 seconds",
  "at least 1:30", "between 1 and 3 minutes") and tempo ("around 120 bpm" = ±10 bpm,
  "faster than 140 bpm", "between 90 and 110 bpm"). A later statement replaces an earlier
  one that it contradicts; "any tempo" / "any length" / "vocals or not" /
  "no filters" clear them.
* **Tempo relative to what was heard**: "faster", "quicker", "too slow" mean a tempo that
  the re-ranker's facts call faster than the heard pick's (at least
  :data:`~core.data.synth.TEMPO_RATIO` times and :data:`~core.data.synth.TEMPO_MIN_BPM`
  more); "slower", "slow it down", "too fast" the opposite. Such a wish replaces an earlier
  bpm range (which would otherwise stop the picks from moving); without a heard tempo it
  only clears that range. Other words on tempo ("fast", "pace") also clear it.
* **Length relative to what was heard**: "longer", "a longer piece", "too short", "lasts
  more" mean at least :data:`~core.data.synth.LENGTH_RATIO` times the length of the pick
  the turn refines (the previous pick: the one liked most recently, else the top pick of
  the last turn: the track the retriever and re-ranker compare with); "shorter", "too
  long" mean at most 1/LENGTH_RATIO of it. The heard pick is known only when the turn
  runs, so :func:`accumulate` takes each message's :class:`HeardPick`. Without one (a
  note sent with the video) the words only reach the preference text.
* **The clip's length** ("it's a 20 second clip", "my reel is 30s", "for a 1 minute
  reel"): music at least that long, a hard lower bound, since a shorter track leaves the
  end of the video silent.
* **Preference text** for the retriever's text tower: the clauses of every message with
  the numeric filter phrases removed. Clauses are grouped by *aspect* (tempo, energy,
  mood, vocals, and each instrument or genre); the latest clause on an aspect replaces
  earlier ones, so "faster" then "slower" leaves only "slower". Clauses on no known aspect
  are kept (the last few), so nothing the user said is silently dropped.
* **Repeat**: "show the first one again", "repeat", "the same ones" let already-shown
  tracks come back for that turn only.

Only the first :data:`MAX_FEEDBACK_CHARS` characters of a message are read (the text
encoders see at most a few hundred tokens anyway); the rest is ignored and the reply
says so. Emoji and right-to-left scripts pass through untouched.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from core.data.synth import LENGTH_RATIO, TEMPO_MIN_BPM, TEMPO_RATIO
from core.engine import TrackFilter
from core.errors import BadFeedback

# Characters of one feedback message that are read; longer messages are cut here.
MAX_FEEDBACK_CHARS = 1000
# Characters of the accumulated preference text handed to the engine (newest kept).
MAX_PREFERENCE_CHARS = 1000
# Clauses on no known aspect kept across a conversation (newest kept).
MAX_FREE_CLAUSES = 4
# "around N bpm" means N ± this.
BPM_TOLERANCE = 10.0
# "around N minutes" means N ± this fraction.
DURATION_TOLERANCE = 0.15


class EmptyFeedback(BadFeedback):
    user_message = ('Tell me what to change, e.g. "calmer, no vocals", "under 2 minutes" '
                    'or "around 120 bpm".')


# --- text hygiene ---------------------------------------------------------------------

_CONTROL = {c for c in range(0x20) if chr(c) not in "\n\t"} | {0x7F}


def clean_text(text: str) -> str:
    """NFC-normalised text without control characters (PostgreSQL refuses NUL in text).

    Emoji, combining marks and right-to-left scripts are kept as they are.
    """
    text = unicodedata.normalize("NFC", text)
    return "".join(ch for ch in text if ord(ch) not in _CONTROL).strip()


def truncate(text: str, limit: int = MAX_FEEDBACK_CHARS) -> tuple[str, bool]:
    """``text`` cut to at most ``limit`` characters, at a word boundary when one is near."""
    if len(text) <= limit:
        return text, False
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip(), True


# --- numbers and units ----------------------------------------------------------------

_WORD_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30,
    "forty": 40, "forty-five": 45, "fifty": 50, "sixty": 60, "ninety": 90,
}
_NUM = r"(?:\d+(?:[.,]\d+)?|" + "|".join(sorted(map(re.escape, _WORD_NUMBERS), key=len, reverse=True)) + r")"
_HALF = r"(?:\s+and\s+a\s+half)?"
_SEC_UNIT = r"(?:s|sec|secs|second|seconds)"
_MIN_UNIT = r"(?:m|min|mins|minute|minutes)"
# A length: "2 minutes", "90 seconds", "1:30", "two and a half minutes", "2 min 30 s".
_DURATION = (rf"(?:\d{{1,2}}:\d{{2}}|{_NUM}{_HALF}[\s-]*{_MIN_UNIT}(?:\s*(?:and\s*)?\d+\s*{_SEC_UNIT})?"
             rf"|{_NUM}[\s-]*{_SEC_UNIT})\b")
_BPM_UNIT = r"(?:bpm|beats\s+per\s+minute|beats/min)\b"
# What a user calls the video whose length they state ("a 20 second clip").
_VIDEO = (r"(?:video|vid|clip|reel|reels|short|tiktok|story|edit|montage|vlog|footage|ad|advert|commercial|"
          r"trailer|teaser|promo|film|movie|slideshow|timelapse|time-lapse)")

_LESS = r"(?:under|less\s+than|shorter\s+than|below|at\s+most|no\s+(?:longer|more)\s+than|not\s+over|up\s+to|max(?:imum)?|within)"
_MORE = r"(?:over|more\s+than|longer\s+than|above|at\s+least|min(?:imum)?|no\s+shorter\s+than)"
_SLOWER = r"(?:under|less\s+than|slower\s+than|below|at\s+most|no\s+faster\s+than|up\s+to|max(?:imum)?)"
_FASTER = r"(?:over|more\s+than|faster\s+than|above|at\s+least|min(?:imum)?|no\s+slower\s+than)"
_ABOUT = r"(?:around|about|roughly|approximately|approx\.?|circa|~|near|close\s+to)"


def _number(word: str) -> float:
    word = word.lower().replace(",", ".")
    return float(_WORD_NUMBERS[word]) if word in _WORD_NUMBERS else float(word)


def _seconds(phrase: str) -> float:
    """Seconds in a length phrase matched by ``_DURATION``."""
    phrase = phrase.lower().strip()
    if m := re.fullmatch(r"(\d{1,2}):(\d{2})", phrase):
        return int(m.group(1)) * 60 + int(m.group(2))
    m = re.match(rf"({_NUM})(\s+and\s+a\s+half)?[\s-]*({_MIN_UNIT}|{_SEC_UNIT})\b", phrase)
    value = _number(m.group(1)) + (0.5 if m.group(2) else 0.0)
    if re.fullmatch(_SEC_UNIT, m.group(3)):
        return value
    extra = re.search(rf"(\d+)\s*{_SEC_UNIT}\s*$", phrase[m.end():])
    return value * 60 + (int(extra.group(1)) if extra else 0)


# --- filters ----------------------------------------------------------------------------

@dataclass(frozen=True)
class FilterOp:
    """One change to the hard filters: ``set`` a field, or ``clear`` a group of fields."""

    action: str  # "set" | "clear" | "relative"
    # field of TrackFilter for "set"; "vocals" | "duration" | "bpm" | "all" for "clear";
    # "longer" | "shorter" | "faster" | "slower" for "relative" (than the heard pick)
    name: str
    value: float | bool | None = None


_GROUPS = {
    "vocals": ("instrumental_only", "vocals_only"),
    "duration": ("min_duration_s", "max_duration_s", "longer_than_s", "shorter_than_s"),
    "bpm": ("bpm_min", "bpm_max", "faster_than_bpm", "slower_than_bpm"),
}
_GROUPS["all"] = tuple(f for group in _GROUPS.values() for f in group)


@dataclass(frozen=True)
class HeardPick:
    """What "longer"/"faster" in a message are relative to: the pick its turn refines."""

    duration_s: float | None
    tempo_bpm: float | None


# A relative bound and the field naming its anchor go together.
_ANCHOR_OF = {"min_duration_s": "longer_than_s", "max_duration_s": "shorter_than_s",
              "bpm_min": "faster_than_bpm", "bpm_max": "slower_than_bpm"}


def _relative_bound(op: FilterOp, heard: HeardPick | None) -> tuple[str, float, float] | None:
    """(field, bound, anchor) for a "relative" op, with the thresholds the re-ranker's facts use
    (core.retriever.facts; not rounded, so the filter keeps exactly the tracks that have the
    fact); None when the heard pick lacks the measure."""
    if op.name in ("longer", "shorter"):
        d = heard.duration_s if heard else None
        if not d or d <= 0:
            return None
        if op.name == "longer":
            return "min_duration_s", d * LENGTH_RATIO, float(d)
        return "max_duration_s", d / LENGTH_RATIO, float(d)
    t = heard.tempo_bpm if heard else None
    if not t or t <= 0:
        return None
    if op.name == "faster":
        return "bpm_min", max(t * TEMPO_RATIO, t + TEMPO_MIN_BPM), float(t)
    return "bpm_max", min(t / TEMPO_RATIO, t - TEMPO_MIN_BPM), float(t)


def apply_ops(current: TrackFilter, ops: Iterable[FilterOp], heard: HeardPick | None = None) -> TrackFilter:
    """``current`` with ``ops`` applied in order; a new bound drops an old one it contradicts.

    ``heard``: the pick these ops refine, for "relative" ops ("longer" = at least its
    length * LENGTH_RATIO). Without the measure a relative length op changes nothing and
    a relative tempo op only clears the bpm range.
    """
    values = dict(current.__dict__)
    for op in ops:
        if op.action == "clear":
            for name in _GROUPS[op.name]:
                values[name] = False if name in _GROUPS["vocals"] else None
            continue
        name, value, anchor = op.name, op.value, None
        if op.action == "relative":
            if op.name in ("faster", "slower"):
                for field_name in _GROUPS["bpm"]:  # a tempo wish in words replaces a stated bpm range
                    values[field_name] = None
            else:  # and a length wish replaces earlier ones relative to other picks ("longer", then "shorter")
                for field_name in ("min_duration_s", "max_duration_s"):
                    if values[_ANCHOR_OF[field_name]] is not None:
                        values[field_name] = values[_ANCHOR_OF[field_name]] = None
            bound = _relative_bound(op, heard)
            if bound is None:
                continue
            name, value, anchor = bound
        values[name] = value
        if name in _ANCHOR_OF:
            values[_ANCHOR_OF[name]] = anchor
        if name == "instrumental_only" and value:
            values["vocals_only"] = False
        elif name == "vocals_only" and value:
            values["instrumental_only"] = False
        for lo, hi in (("min_duration_s", "max_duration_s"), ("bpm_min", "bpm_max")):
            if values[lo] is not None and values[hi] is not None and values[lo] > values[hi]:
                dropped = hi if name == lo else lo
                values[dropped] = None
                if dropped in _ANCHOR_OF:
                    values[_ANCHOR_OF[dropped]] = None
    return TrackFilter(**values)


# Each rule: a pattern over the lower-cased message, and the ops a match means.
# Order matters: earlier rules consume their span so later ones do not see it again.
def _filter_rules():
    d, b = _DURATION, _BPM_UNIT
    num = rf"({_NUM})"
    return [
        # tempo, numeric
        (rf"\bbetween\s+{num}\s*(?:bpm\s*)?(?:and|to|-|–)\s*{num}\s*{b}",
         lambda m: [FilterOp("set", "bpm_min", min(_number(m[1]), _number(m[2]))),
                    FilterOp("set", "bpm_max", max(_number(m[1]), _number(m[2])))]),
        (rf"\b{num}\s*(?:-|–|to)\s*{num}\s*{b}",
         lambda m: [FilterOp("set", "bpm_min", min(_number(m[1]), _number(m[2]))),
                    FilterOp("set", "bpm_max", max(_number(m[1]), _number(m[2])))]),
        (rf"(?:\b{_FASTER}|>)\s*{num}\s*{b}", lambda m: [FilterOp("set", "bpm_min", _number(m[1]))]),
        (rf"(?:\b{_SLOWER}|<)\s*{num}\s*{b}", lambda m: [FilterOp("set", "bpm_max", _number(m[1]))]),
        (rf"(?:\b{_ABOUT}\s*|\bat\s+)?\b{num}\s*{b}(?:\s*(?:or\s+so|ish))?",
         lambda m: [FilterOp("set", "bpm_min", _number(m[1]) - BPM_TOLERANCE),
                    FilterOp("set", "bpm_max", _number(m[1]) + BPM_TOLERANCE)]),
        (r"\b(?:any|whatever)\s+(?:tempo|speed|bpm)\b|\btempo\s+(?:doesn'?t|does\s+not)\s+matter\b",
         lambda m: [FilterOp("clear", "bpm")]),
        # the clip's length: music at least that long ("it's a 20 second clip", "my reel is 30s")
        (rf"\b(?:my|the|this|our|its)\s+(?:[a-z]+\s+)?{_VIDEO}(?:'s|\s+(?:is|was|runs|lasts|will\s+be))\s+"
         rf"(?:only\s+|just\s+|about\s+|around\s+|roughly\s+|exactly\s+)?({d})(?:\s+long)?",
         lambda m: [FilterOp("set", "min_duration_s", _seconds(m[1]))]),
        (rf"\b({d})(?:\s+long)?[\s-]*(?:long\s+)?{_VIDEO}\b",
         lambda m: [FilterOp("set", "min_duration_s", _seconds(m[1]))]),
        # length, numeric
        (rf"\bbetween\s+({d})\s*(?:and|to|-|–)\s*({d})",
         lambda m: [FilterOp("set", "min_duration_s", min(_seconds(m[1]), _seconds(m[2]))),
                    FilterOp("set", "max_duration_s", max(_seconds(m[1]), _seconds(m[2])))]),
        (rf"\bbetween\s+({_NUM})\s*(?:and|to|-|–)\s*({_NUM})\s*({_MIN_UNIT}|{_SEC_UNIT})\b",
         lambda m: [FilterOp("set", "min_duration_s", min(_seconds(f"{m[1]} {m[3]}"), _seconds(f"{m[2]} {m[3]}"))),
                    FilterOp("set", "max_duration_s", max(_seconds(f"{m[1]} {m[3]}"), _seconds(f"{m[2]} {m[3]}")))]),
        (rf"(?:\b{_LESS}|<)\s*({d})(?:\s+long)?", lambda m: [FilterOp("set", "max_duration_s", _seconds(m[1]))]),
        (rf"(?:\b{_MORE}|>)\s*({d})(?:\s+long)?", lambda m: [FilterOp("set", "min_duration_s", _seconds(m[1]))]),
        (rf"\b{_ABOUT}\s*({d})(?:\s+long)?",
         lambda m: [FilterOp("set", "min_duration_s", round(_seconds(m[1]) * (1 - DURATION_TOLERANCE))),
                    FilterOp("set", "max_duration_s", round(_seconds(m[1]) * (1 + DURATION_TOLERANCE)))]),
        (r"\b(?:any|whatever)\s+(?:length|duration)\b|\blength\s+(?:doesn'?t|does\s+not)\s+matter\b",
         lambda m: [FilterOp("clear", "duration")]),
        # everything
        (r"\b(?:no|clear|remove|drop|reset|forget)\s+(?:the\s+|all\s+|my\s+)?filters?\b|\bno\s+restrictions\b",
         lambda m: [FilterOp("clear", "all")]),
    ]


_FILTER_RULES = [(re.compile(p, re.IGNORECASE), f) for p, f in _filter_rules()]

# Length and tempo relative to the heard pick. Like vocals, these words are filters *and*
# meaning (the re-ranker reads "longer" as a fact about the previous pick), so they stay in the text.
# Parts of a piece or of the reply: "a longer intro", "the fade is too long" are not about
# the track's length.
_PART = (r"(?:intro|outro|fade(?:[-\s]?(?:in|out))?|build[-\s]?ups?|ending|end|beginning|start|opening|"
         r"section|part|parts|verse|chorus|bridge|solo|notes?|reverb|echo|delay|decay|tail|silences?|"
         r"pauses?|break|drop|loop|sample|titles?|names?|descriptions?|explanations?|answers?|repl(?:y|ies)|"
         r"messages?|lists?|text|sentences?|words|hair)")
# "no longer sad", "can't wait any longer" are not comparisons.
_NOT_LENGTH_BEFORE = r"(?<!\bno\s)(?<!\bany\s)(?<!\bnot\s)"
_LONGER = re.compile(
    rf"{_NOT_LENGTH_BEFORE}\b(?:longer|lengthier)\b(?!\s+{_PART}\b)"
    r"|\btoo\s+short\b|\bnot\s+long\s+enough\b|\bmore\s+(?:length|duration)\b"
    r"|\b(?:lasts?|lasting|runs?|running|goes\s+on|plays?)\s+(?:for\s+)?(?:a\s+(?:bit|while)\s+)?(?:more|longer)\b"
    r"|\bextended\s+(?:version|mix|cut|edit)\b",
    re.IGNORECASE)
_SHORTER = re.compile(
    rf"{_NOT_LENGTH_BEFORE}\bshorter\b(?!\s+{_PART}\b)"
    r"|(?<!\bnot\s)\btoo\s+long\b|\b(?:less|not\s+as|not\s+so)\s+long\b|\bbrief(?:er)?\b"
    r"|\bdrags?\s+on\b|\bdragging\b|\b(?:lasts?|runs?)\s+(?:for\s+)?(?:less|forever)\b",
    re.IGNORECASE)
_PART_BEFORE = re.compile(rf"\b{_PART}\b", re.IGNORECASE)
# Tempo compared with the heard pick. Plain "fast"/"slow" are not comparisons; they only
# clear a bpm range (see parse_feedback).
_FASTER_WORDS = re.compile(
    rf"{_NOT_LENGTH_BEFORE}\b(?:faster|quicker|speedier)\b(?!\s+{_PART}\b)"
    r"|\bspeed\s+(?:it|things)?\s*up\b|\bpick\s+up\s+the\s+pace\b|\btoo\s+slow\b"
    r"|\bmore\s+up-?tempo\b|\b(?:higher|faster)\s+(?:tempo|bpm)\b",
    re.IGNORECASE)
_SLOWER_WORDS = re.compile(
    rf"{_NOT_LENGTH_BEFORE}\bslower\b(?!\s+{_PART}\b)"
    r"|\bslow\s+(?:it|things)?\s*down\b|\btoo\s+fast\b|\bless\s+fast\b|\bnot\s+so\s+fast\b"
    r"|\bmore\s+down-?tempo\b|\b(?:lower|slower)\s+(?:tempo|bpm)\b",
    re.IGNORECASE)


def _relative_ops(text: str) -> list[FilterOp]:
    """Length and tempo wishes relative to the heard pick in ``text``, in order (see apply_ops)."""
    found: list[tuple[int, int, FilterOp]] = []
    for pattern, op in ((_LONGER, FilterOp("relative", "longer")), (_SHORTER, FilterOp("relative", "shorter")),
                        (_FASTER_WORDS, FilterOp("relative", "faster")),
                        (_SLOWER_WORDS, FilterOp("relative", "slower"))):
        for m in pattern.finditer(text):
            # "the intro is too long": a part of the piece named earlier in the same clause.
            if _PART_BEFORE.search(_CLAUSE_SPLIT.split(text[:m.start()])[-1]):
                continue
            if not any(s < m.end() and m.start() < e for s, e, _ in found):
                found.append((m.start(), m.end(), op))
    return [op for _, _, op in sorted(found, key=lambda f: f[0])]

# Vocals are filters *and* meaning, so their phrases stay in the preference text.
_VOX = r"(?:vocals?|voices?|singing|singers?|lyrics|words|vox)"
_NO_VOCALS = re.compile(
    rf"\b(?:no|without|zero|minus|lose\s+the|drop\s+the|skip\s+the)\s+(?:any\s+|the\s+|more\s+)?{_VOX}\b"
    rf"|\b(?:don'?t|do\s+not)\s+(?:want|like|need)\s+(?:any\s+|the\s+)?{_VOX}\b"
    rf"|\b{_VOX}[-\s]?free\b|\binstrumentals?\b|\bno[-\s]vocals?\b|\bnobody\s+singing\b|\bno\s+one\s+singing\b",
    re.IGNORECASE)
_ANY_VOCALS = re.compile(
    rf"\b{_VOX}\s+(?:or\s+not|are\s+(?:fine|ok|okay)|is\s+(?:fine|ok|okay)|(?:don'?t|doesn'?t)\s+matter)\b"
    rf"|\b(?:don'?t|do\s+not)\s+care\s+about\s+{_VOX}\b|\bany\s+{_VOX}\b",
    re.IGNORECASE)
_WITH_VOCALS = re.compile(
    rf"\b(?:with|more|some|add|want|needs?|has|having|real|a|female|male|good)\s+{_VOX}\b"
    rf"|\b(?:sung|someone\s+singing|a\s+song\s+with\s+words)\b",
    re.IGNORECASE)

_REPEAT = re.compile(
    r"\b(?:show|play|give|bring|put|let\s+me\s+hear)\b[^.,;!?]*\bagain\b"
    r"|\brepeat\b|\bonce\s+more\b"
    r"|\bthe\s+(?:first|previous|last|earlier|same|old)\s+(?:one|ones|track|tracks|song|songs|picks?)\b"
    r"|\b(?:same|previous|earlier)\s+(?:ones|tracks|songs|picks)\s+again\b"
    r"|\bgo\s+back\s+to\b",
    re.IGNORECASE)


# --- aspects of the preference text --------------------------------------------------

def _words(*words: str) -> str:
    return r"\b(?:" + "|".join(words) + r")\b"


_ASPECTS: dict[str, re.Pattern[str]] = {
    "tempo": re.compile(_words(
        r"faster", r"quicker", r"speed\s+(?:it\s+)?up", r"slow\s+(?:it\s+)?down", r"slower", r"up-?tempo",
        r"down-?tempo", r"tempo", r"pace", r"fast", r"slow", r"quick"), re.IGNORECASE),
    "energy": re.compile(_words(
        r"calm(?:er)?", r"chill(?:er)?", r"relax(?:ed|ing)?", r"soft(?:er)?", r"gentle(?:r)?", r"mellow(?:er)?",
        r"quiet(?:er)?", r"peaceful", r"soothing", r"laid[-\s]back", r"energetic", r"energy", r"upbeat",
        r"intense", r"intensity", r"livel(?:y|ier)", r"loud(?:er)?", r"powerful", r"punch(?:y|ier)", r"epic",
        r"exciting", r"heav(?:y|ier)", r"aggressive", r"driving", r"hype", r"dramatic", r"tense(?:r)?",
        r"action"), re.IGNORECASE),
    "mood": re.compile(_words(
        r"happ(?:y|ier)", r"cheerful", r"bright(?:er)?", r"uplifting", r"joyful", r"fun", r"playful",
        r"sunny", r"light(?:er)?", r"positive", r"sad(?:der)?", r"dark(?:er)?", r"melanchol(?:y|ic)",
        r"moody", r"gloomy", r"somber", r"sombre", r"ominous", r"scary", r"creepy", r"spooky",
        r"romantic", r"nostalgic", r"mysterious", r"emotional", r"serious"), re.IGNORECASE),
    "vocals": re.compile(_words(_VOX[3:-1], r"instrumentals?", r"sung"), re.IGNORECASE),
    "length": re.compile(_LONGER.pattern + "|" + _SHORTER.pattern, re.IGNORECASE),
}
_INSTRUMENTS = (
    "piano", "guitar", "acoustic", "electric guitar", "drums", "percussion", "bass", "strings",
    "violin", "cello", "synth", "synths", "synthesizer", "orchestra", "orchestral", "choir",
    "flute", "brass", "horns", "trumpet", "saxophone", "sax", "organ", "harp", "bells", "beat",
    "rock", "metal", "jazz", "classical", "folk", "ambient", "pop", "hip hop", "hip-hop", "rap",
    "techno", "electronic", "edm", "dance", "blues", "country", "reggae", "punk", "funk",
    "soul", "cinematic", "celtic", "medieval", "chiptune", "8-bit", "lofi", "lo-fi",
)
for _name in _INSTRUMENTS:
    _ASPECTS[f"style:{_name}"] = re.compile(rf"\b{re.escape(_name)}\b", re.IGNORECASE)

_CLAUSE_SPLIT = re.compile(r"[,;.!?\n]+|\s+(?:and|but|also|plus|though|however)\s+|\s+&\s+", re.IGNORECASE)
# Filler left behind once numeric filter phrases are cut out ("something", "make it").
_FILLER = re.compile(
    r"^(?:(?:please|pls|ok(?:ay)?|and|but|also|maybe|now|then|just|make\s+it|something|a\s+bit|"
    r"i\s+(?:want|would\s+like|'d\s+like)|give\s+me|can\s+you|could\s+you|try|songs?|tracks?|music|"
    r"with|that'?s|that\s+is|it'?s|for|long|the|a|an|it|is|be|only)\b\s*)*$",
    re.IGNORECASE)


@dataclass(frozen=True)
class Clause:
    """One phrase of a message and the aspects it talks about (empty: none we know)."""

    text: str
    aspects: frozenset[str]


@dataclass
class Feedback:
    """One feedback message, read.

    ``text`` is the cleaned message as used (cut to MAX_FEEDBACK_CHARS); ``truncated``
    tells whether it was cut; ``ops`` are its filter changes in order; ``clauses`` the
    phrases that go into the preference text; ``repeat`` asks to see shown tracks again.
    """

    text: str
    truncated: bool = False
    ops: list[FilterOp] = field(default_factory=list)
    clauses: list[Clause] = field(default_factory=list)
    repeat: bool = False


def parse_feedback(raw: str, *, allow_empty: bool = False) -> Feedback:
    """Read one message. Raises :class:`EmptyFeedback` for blank text unless ``allow_empty``."""
    text, truncated = truncate(clean_text(raw or ""))
    if not text and not allow_empty:
        raise EmptyFeedback("empty feedback")
    fb = Feedback(text=text, truncated=truncated)
    rest = text

    def consume(pattern: re.Pattern[str], handler) -> None:
        nonlocal rest
        pieces, last = [], 0
        for m in pattern.finditer(rest):
            fb.ops.extend(handler(m))
            pieces.append(rest[last:m.start()])
            pieces.append(",")
            last = m.end()
        pieces.append(rest[last:])
        rest = "".join(pieces)

    for pattern, handler in _FILTER_RULES:
        consume(pattern, handler)
    if _REPEAT.search(rest):
        fb.repeat = True
        consume(_REPEAT, lambda m: [])
    # Vocals: "no vocals" before "with vocals" so that "no vocals" is not read as "vocals".
    # Only the ops are taken here; the phrase stays in the text for the retriever.
    vocal_ops: list[tuple[int, FilterOp]] = []
    taken: list[tuple[int, int]] = []
    for pattern, op in ((_NO_VOCALS, FilterOp("set", "instrumental_only", True)),
                        (_ANY_VOCALS, FilterOp("clear", "vocals")),
                        (_WITH_VOCALS, FilterOp("set", "vocals_only", True))):
        for m in pattern.finditer(rest):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue
            taken.append((m.start(), m.end()))
            vocal_ops.append((m.start(), op))
    fb.ops.extend(op for _, op in sorted(vocal_ops, key=lambda p: p[0]))
    # First, so that numbers in the same message ("longer, at least 3 minutes") win.
    fb.ops[:0] = _relative_ops(rest)

    sets_bpm = any(op.name in _GROUPS["bpm"] or op.name in ("faster", "slower") for op in fb.ops)
    for piece in _CLAUSE_SPLIT.split(rest):
        piece = re.sub(r"\s+", " ", piece).strip(" -–:\"'()[]~<>")
        if not piece or _FILLER.fullmatch(piece):
            continue
        aspects = frozenset(name for name, pat in _ASPECTS.items() if pat.search(piece))
        fb.clauses.append(Clause(piece, aspects))
        if "tempo" in aspects and not sets_bpm:
            # "faster"/"slower" in words replaces a bpm range stated before.
            fb.ops.append(FilterOp("clear", "bpm"))
    return fb


@dataclass
class Preferences:
    """Everything a conversation's messages ask for, as of its latest message.

    ``text``: accumulated preference text for the engine (None when there is none);
    ``filters``: hard filters in force; ``repeat``: the latest message asked to see
    shown tracks again; ``truncated``: the latest message was cut.
    """

    text: str | None
    filters: TrackFilter
    repeat: bool = False
    truncated: bool = False


def accumulate(messages: Iterable[str | None], heard: Sequence[HeardPick | None] = ()) -> Preferences:
    """Fold a conversation's messages, oldest first (None/blank entries are skipped).

    ``heard[i]``: the pick message ``i`` refines (the previous pick of its turn), which
    "longer"/"faster" in that message are relative to; missing or None: those words set
    no bound.
    """
    filters = TrackFilter()
    kept: list[Clause] = []
    repeat = truncated = False
    for i, raw in enumerate(messages):
        if raw is None or not clean_text(raw):
            repeat = truncated = False
            continue
        fb = parse_feedback(raw)
        filters = apply_ops(filters, fb.ops, heard[i] if i < len(heard) else None)
        repeat, truncated = fb.repeat, fb.truncated
        for clause in fb.clauses:
            # The newest clause on an aspect supersedes older ones on it ("faster" -> "slower").
            if clause.aspects:
                kept = [c for c in kept if not (c.aspects & clause.aspects)]
            kept = [c for c in kept if c.text.lower() != clause.text.lower()]
            kept.append(clause)
        free = [c for c in kept if not c.aspects]
        if len(free) > MAX_FREE_CLAUSES:
            drop = {id(c) for c in free[:-MAX_FREE_CLAUSES]}
            kept = [c for c in kept if id(c) not in drop]
    text = ", ".join(c.text for c in kept)
    while len(text) > MAX_PREFERENCE_CHARS and len(kept) > 1:
        kept = kept[1:]
        text = ", ".join(c.text for c in kept)
    text = truncate(text, MAX_PREFERENCE_CHARS)[0]
    return Preferences(text=text or None, filters=filters, repeat=repeat, truncated=truncated)
