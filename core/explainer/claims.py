"""Every claim in an explanation, and whether the facts back it.

An explanation may say only what the pick's facts (``TrackFacts``), the video's measured
facts (``core.video_facts.VideoFacts``) and the user's request (``core.explainer.request``)
say. :func:`verify` finds each claim and checks it:

* **track**: title, artist, vocals, tempo words, BPM numbers, genre/instrument/mood words
  (``OutputGuard.claims``, the one claim vocabulary for music), plus lengths ("2:30",
  "90 seconds") against the duration.
* **video**: any word of ``VIDEO_WORDS`` and any colour name (against ``VideoFacts.values``
  and ``colours``), and any noun for a thing or setting in the footage
  (``scene_nouns.txt``: ImageNet's class names and common settings), which only a
  confident content label of the same name backs. A clause that speaks of the footage
  ("your clip", "on screen") makes its descriptive words claims about the video; without
  video facts, every claim about the video is unsupported.
* **request**: "you asked for…", "as you wanted…", "as requested": each thing said to have
  been asked for must be in the request's wishes *and* met by the track; a bare "just what
  you asked for" needs every wish met.
* **names and numbers**: a capitalised name that is not in the facts, and any number that
  is not a checked BPM or length, are unsupported.

Separately, a claim that praises the opposite of a wish ("an upbeat rhythm" after "calmer
please") is a **contradiction with the request**, whether or not it is true of the track.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from core.explainer.facts import TrackFacts
from core.explainer.guard import (
    _BPM_RE,
    _TAG_RE,
    _TAG_SUPPORT,
    _TEMPO_RE,
    Claim,
    OutputGuard,
    _negated,
    _norm,
    _word_pattern,
    label_names,
)
from core.explainer.request import MOOD_OPPOSITE, PACE_OPPOSITE, Request, Wish, met, read_request
from core.video_facts import COLOUR_NAMES, VIDEO_WORDS, VideoFacts

TRACK_KINDS = ("title", "artist", "vocals", "tempo", "bpm", "tag", "length")
VIDEO_KINDS = ("video", "scene")

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?…])[”\"]?\s+")
_CLAUSE_SPLIT = re.compile(r"\s*(?:[;—–]|(?<!\d):(?!\d))\s*|\s+(?:but|while|whereas)\s+", re.IGNORECASE)
# Words that make a clause speak of the footage.
_VIDEO_ANCHOR = _word_pattern([
    "video", "videos", "clip", "clips", "footage", "scene", "scenes", "frame", "frames", "shot", "shots",
    "visuals", "visual", "picture", "pictures", "imagery", "images", "image", "on screen", "on-screen",
    "onscreen", "camera", "film", "movie", "recording", "edit"])
# Plain words that describe footage only in such a clause ("your fast clip"); elsewhere they
# are about the music and the track's claim vocabulary checks them.
_ANCHORED_VIDEO_WORDS: dict[str, tuple[str, str]] = {
    "fast": ("pace", "fast"), "quick": ("pace", "fast"), "busy": ("pace", "fast"), "lively": ("pace", "fast"),
    "slow": ("pace", "slow"), "calm": ("pace", "slow"), "warm": ("tone", "warm"), "cool": ("tone", "cool"),
    "cold": ("tone", "cool"),
}
# What may stand between such a word and the word for the footage it describes ("your fast,
# dark clip", "fast-paced like your video", "the hook on screen").
_ADJ_LINK = {"like", "your", "the", "this", "and", "as", "a", "an", "its", "to", "match", "matches", "matching",
             "fit", "fits", "suit", "suits", "mirrors", "mirror", "echoes", "echo"}
_PREPOSITIONS = {"on", "in", "from", "throughout", "across", "of"}
_NOUN_LINK = _PREPOSITIONS | {"your", "the", "this"}
_ANCHOR_BEFORE = re.compile(r"\b(?:video|clip|footage|scene|frames|shots?|visuals)(?:(?:'s|’s|\s+(?:is|are|feels?|"
                            r"looks?|seems?))\s+(?:\w+\s+)?|\s*\((?:[^()]*,\s*)?)$", re.IGNORECASE)
_COLOUR_WORDS = {**{c: c for c in COLOUR_NAMES}, "gray": "grey", "golden": "gold", "gold": "gold",
                 "silver": "silver", "crimson": "crimson", "violet": "violet", "turquoise": "turquoise",
                 "cyan": "cyan", "navy": "navy", "beige": "beige", "scarlet": "scarlet", "amber": "amber",
                 "magenta": "magenta"}
_VIDEO_WORD_RE = _word_pattern(VIDEO_WORDS)
_ANCHORED_RE = _word_pattern(_ANCHORED_VIDEO_WORDS)
_COLOUR_RE = _word_pattern(_COLOUR_WORDS)
# "footage of the X", "your clip of X": X describes the footage.
_OF_RE = re.compile(r"\b(?:footage|video|clip|shots?|images?|scenes?|pictures?|frames?)\s+(?:of|showing|with)\s+"
                    r"(?:the\s+|a\s+|an\s+|your\s+|some\s+)?((?:(?!\s(?:is|are|calls?|suits?|fits?|needs?|works?|gets?|"
                    r"deserves?|match(?:es)?|goes|go|pairs?|sits?|backs?|brings?|and\s+this|with)\b)[^,.;:!?—()])+)",
                    re.IGNORECASE)
# "the X in your video", "the X on screen".
_IN_RE = re.compile(r"\bthe\s+([\w'-]+(?:\s+[\w'-]+)?)\s+(?:in|on|from|of|throughout)\s+(?:your|the|this)\s+"
                    r"(?:video|clip|footage|scene|screen|shot)", re.IGNORECASE)
# Words about footage that name no object: "the pace of your clip", "the mood in your video".
_ABSTRACT = {"mood", "pace", "energy", "movement", "motion", "action", "colours", "colors", "colour", "color",
             "tones", "tone", "light", "lighting", "feel", "feeling", "atmosphere", "vibe", "tempo", "rhythm",
             "cuts", "editing", "look", "style", "speed", "visuals", "brightness", "darkness", "contrast",
             "moment", "moments", "story", "way", "sense", "spirit", "flow", "pacing"}
_STOP = {"the", "a", "an", "and", "or", "of", "your", "its", "their", "with", "some", "this", "that", "these",
         "those", "to", "in", "on", "at", "for", "from", "by", "as", "is", "are", "it", "all", "every", "each",
         "very", "so", "such", "mostly", "lots", "lot", "many", "much", "more", "less", "plenty", "both",
         "scene", "scenes", "footage", "video", "clip", "shots", "shot", "images", "image", "frames", "frame",
         "moving", "tones", "colours", "colors", "feel", "cuts", "frequent", "movement", "steady", "nearly"}

# "you asked for", "as you wanted", "as requested": the sentence says what was asked for.
_ASKED_RE = re.compile(
    r"\b(?:you(?:'ve|\s+have)?\s+(?:asked|wanted|requested|were\s+after|were\s+looking\s+for|wished|hoped|"
    r"mentioned|said|wanted)|you(?:'re|\s+are)\s+(?:after|looking\s+for)|you'd\s+like|you\s+would\s+like|"
    r"as\s+requested|(?:per|at)\s+your\s+request|your\s+(?:request|wish|wishes|preference|ask)|"
    r"as\s+you\s+(?:asked|requested|wanted|wished|hoped|said)|like\s+you\s+(?:asked|wanted|said)|"
    r"(?:just|exactly)\s+what\s+you)\b", re.IGNORECASE)
_NAME_RE = re.compile(r"(?<![\w'’-])[A-Z][\w'’.-]*(?:\s+(?:(?:of|the|and|de|la|von|van|der)\s+)*[A-Z][\w'’.-]*)*")
_NOT_NAMES = {"I", "I'm", "I've", "I'd", "I'll", "BPM", "OK"}
_SENTENCE_START = re.compile(r"(?:^|[.!?…:;—(“\"‘]\s*)$")
_DURATION_RE = re.compile(r"\b(\d{1,2}):(\d{2})\b|\b(\d+(?:\.\d+)?)[\s-]*(seconds?|secs?|minutes?|mins?)\b",
                          re.IGNORECASE)
_NUMBER_RE = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?(?![\w])")
_MASK = " ¤ "


@dataclass(frozen=True)
class SceneVocabulary:
    anywhere: re.Pattern[str]  # nouns that always describe footage
    anchored: re.Pattern[str]  # nouns that do only in a clause about the footage
    words: frozenset[str]


def _plural(noun: str) -> list[str]:
    if " " in noun or not noun.isalpha() or not noun.islower():
        return [noun]
    return [noun, noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")]


@lru_cache(maxsize=1)
def scene_vocabulary() -> SceneVocabulary:
    """The nouns of ``scene_nouns.txt`` (with plurals), split into always and anchored-only."""
    anywhere: set[str] = set()
    anchored: set[str] = set()
    for line in Path(__file__).with_name("scene_nouns.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        target = anchored if line.startswith("~") else anywhere
        for noun in _plural(line.lstrip("~")):
            target.add(noun)
    # A word the music vocabulary knows ("piano", "drum") describes footage only when anchored.
    for noun in list(anywhere):
        if _TAG_RE.fullmatch(noun) or _TEMPO_RE.fullmatch(noun) or noun.lower() in VIDEO_WORDS:
            anywhere.discard(noun)
            anchored.add(noun)
    return SceneVocabulary(_word_pattern(anywhere), _word_pattern(anchored | anywhere),
                           frozenset(n.lower() for n in anywhere | anchored))


def _lemma(word: str) -> str:
    w = word.lower().strip()
    if len(w) > 4 and w.endswith("es") and w[:-2].endswith(("s", "x", "ch", "sh")):
        return w[:-2]
    return w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w


def _label_words(video: VideoFacts | None) -> set[str]:
    out = set()
    for name in label_names(video):
        out.add(_lemma(name))
        out |= {_lemma(w) for w in re.findall(r"[\w'-]+", name) if w.lower() not in ("and", "or", "of")}
    return out


def _scene_supported(phrase: str, video: VideoFacts | None) -> bool:
    return video is not None and _lemma(_norm(phrase)) in _label_words(video)


def _near_anchor(clause: str, m: re.Match, links: set[str]) -> bool:
    """Does the word at ``m`` describe the footage: next to a word for it, with only
    ``links`` (or other words about footage) between, or after "your clip is"?"""
    after = clause[m.end():]
    a = _VIDEO_ANCHOR.search(after)
    if a:
        words = re.findall(r"[\w'’-]+", after[:a.start()])
        if links is _NOUN_LINK and (not words or words[0].lower() not in _PREPOSITIONS):
            return False  # a noun reaches the footage through a preposition: "the hook on screen"
        if all(w.lower() in links or _VIDEO_WORD_RE.fullmatch(w) or _ANCHORED_RE.fullmatch(w)
               or _COLOUR_RE.fullmatch(w) for w in words):
            return True
    return bool(_ANCHOR_BEFORE.search(clause[:m.start()]))


def _video_supported(fact: str, value: str, video: VideoFacts | None, negated: bool) -> bool:
    if video is None:
        return False
    holds = video.values().get(fact) == value
    return not holds if negated else holds


@dataclass
class ClaimReport:
    """The claims of one explanation. ``contradictions`` are claims that go against the
    request (they are in ``claims`` too, as claims about the track)."""

    claims: list[Claim] = field(default_factory=list)
    contradictions: list[Claim] = field(default_factory=list)

    @property
    def unsupported(self) -> list[Claim]:
        return [c for c in self.claims if not c.supported]

    @property
    def unknown_names(self) -> list[Claim]:
        return [c for c in self.claims if c.kind == "name" and not c.supported]

    def failed_checks(self) -> list[str]:
        """The guard's names for what failed ([] = every claim is backed)."""
        bad = {c.kind for c in self.unsupported}
        out = []
        if bad & (set(TRACK_KINDS) - {"title"}):
            out.append("contradiction")
        if bad & set(VIDEO_KINDS):
            out.append("video_claim")
        if "request" in bad:
            out.append("request_claim")
        if self.contradictions:
            out.append("contradicts_request")
        if "name" in bad:
            out.append("unsupported_name")
        if "number" in bad:
            out.append("unsupported_number")
        return out


def _request_match(wish: Wish, claim: Claim) -> bool:
    """Is ``claim`` (tempo/vocals/tag) about the same thing as ``wish``, same direction?"""
    if claim.kind == "tempo":
        return wish.aspect == "pace" and wish.value == claim.value and not claim.negated
    if claim.kind == "vocals":
        return wish.aspect == "vocals" and wish.value == claim.value
    if claim.kind == "tag":
        if wish.aspect == "mood":
            return wish.value == claim.value and not claim.negated
        if wish.aspect != "style" or wish.wanted == claim.negated:
            return False
        a = _TAG_SUPPORT.get(wish.value, frozenset({wish.value}))
        b = _TAG_SUPPORT.get(claim.value, frozenset({claim.value}))
        return wish.value == claim.value or bool(a & b)
    return False


def _against(request: Request, claim: Claim) -> bool:
    """Does ``claim`` praise the opposite of something the request asks for?"""
    if claim.negated:
        return False
    for wish in request.wishes:
        if claim.kind == "tempo" and wish.aspect == "pace" and wish.wanted:
            if PACE_OPPOSITE.get(wish.value) == claim.value:
                return True
        if claim.kind == "vocals" and wish.aspect == "vocals" and wish.value != claim.value:
            return True
        if claim.kind == "tag":
            if wish.aspect == "mood" and MOOD_OPPOSITE.get(wish.value) == claim.value:
                return True
            if wish.aspect == "style" and not wish.wanted and _request_match(Wish("style", wish.value), claim):
                return True
    return False


def _clause_video_claims(clause: str, video: VideoFacts | None, anchored: bool) -> tuple[list[Claim], str]:
    """Claims about the video in one clause, and the clause with those words masked (so
    the track's checks don't read "your fast-paced clip" as a claim about the music)."""
    out: list[Claim] = []
    spans: list[tuple[int, int]] = []
    vocab = scene_vocabulary()

    def free(m: re.Match) -> bool:
        return not any(s < m.end() and m.start() < e for s, e in spans)

    for m in _VIDEO_WORD_RE.finditer(clause):
        word = _norm(m.group(1)).lower()
        music_word = bool(_TEMPO_RE.fullmatch(word) or _TAG_RE.fullmatch(word))
        if music_word and not (anchored and _near_anchor(clause, m, _ADJ_LINK)):
            continue  # about the music: the track's claims check it
        fact, value = VIDEO_WORDS[word]
        negated = _negated(clause, m.start())
        out.append(Claim("video", m.group(0), _video_supported(fact, value, video, negated), value, negated))
        spans.append(m.span())
    if anchored:
        for m in _ANCHORED_RE.finditer(clause):
            if not free(m) or not _near_anchor(clause, m, _ADJ_LINK):
                continue
            fact, value = _ANCHORED_VIDEO_WORDS[m.group(1).lower()]
            negated = _negated(clause, m.start())
            out.append(Claim("video", m.group(0), _video_supported(fact, value, video, negated), value, negated))
            spans.append(m.span())
    for m in _COLOUR_RE.finditer(clause):
        colour = _COLOUR_WORDS[m.group(1).lower()]
        ok = video is not None and colour in video.colours
        out.append(Claim("video", m.group(0), ok, colour))
        spans.append(m.span())
    for m in (vocab.anchored if anchored else vocab.anywhere).finditer(clause):
        always = bool(vocab.anywhere.fullmatch(m.group(0)))
        if free(m) and (always or _near_anchor(clause, m, _NOUN_LINK)):
            out.append(Claim("scene", m.group(0), _scene_supported(m.group(1), video), _lemma(m.group(1))))
            spans.append(m.span())
    if anchored:
        # "footage of the X", "the X on screen": an X no noun list knows is still a claim.
        for pattern in (_OF_RE, _IN_RE):
            for m in pattern.finditer(clause):
                if not free(m) and pattern is _IN_RE:
                    continue
                words = [w for w in re.findall(r"[\w'-]+", m.group(1)) if w.lower() not in _STOP]
                words = [w for w in words if w.lower() not in _ABSTRACT and not _VIDEO_WORD_RE.fullmatch(w)
                         and not _ANCHORED_RE.fullmatch(w) and not _COLOUR_RE.fullmatch(w)]
                inner = [w for w in words if not any(s <= m.start(1) + m.group(1).find(w) < e for s, e in spans)]
                if inner and not _TAG_RE.search(" ".join(inner)):
                    phrase = " ".join(inner)
                    out.append(Claim("scene", phrase, _scene_supported(phrase, video), _lemma(phrase)))
                    spans.append(m.span(1))
    masked = clause
    for s, e in sorted(spans, reverse=True):
        masked = masked[:s] + _MASK + masked[e:]
    return out, masked


def _names_and_numbers(text: str, facts: TrackFacts, video: VideoFacts | None, known: str) -> list[Claim]:
    out: list[Claim] = []
    for m in _NAME_RE.finditer(text):
        words = m.group(0).rstrip(".").split()
        if _SENTENCE_START.search(text[:m.start()]):
            words = words[1:]  # a capital opening a sentence is no name by itself
        words = [w for w in words if w not in _NOT_NAMES]
        while words and words[0].lower() in ("of", "the", "and", "de", "la", "von", "van", "der"):
            words = words[1:]
        if not words:
            continue
        name = " ".join(words)
        out.append(Claim("name", name, _norm(name).lower() in known))
    for m in _DURATION_RE.finditer(text):
        if m.group(1):
            seconds = int(m.group(1)) * 60 + int(m.group(2))
        else:
            seconds = float(m.group(3)) * (60 if m.group(4).lower().startswith("min") else 1)
        ok = abs(seconds - facts.duration_s) <= max(5.0, 0.1 * facts.duration_s)
        out.append(Claim("length", m.group(0), ok))
    rest = _DURATION_RE.sub(_MASK, _BPM_RE.sub(_MASK, text))
    for m in _NUMBER_RE.finditer(rest):
        out.append(Claim("number", m.group(0), False))
    return out


def verify(text: str, facts: TrackFacts, video: VideoFacts | None, preference: str | None = None,
           guard: OutputGuard | None = None) -> ClaimReport:
    """Every claim in ``text`` checked against the track's facts, the video's facts (None:
    nothing may be said about the video) and the request in ``preference``."""
    guard = guard or OutputGuard()
    request = _request(preference)
    report = ClaimReport()
    own = [p for p in (facts.title, facts.artist or "") if p]
    known = " ".join(_norm(x).lower() for x in [*own, *facts.tags, *label_names(video)])
    for sentence in _SENTENCE_SPLIT.split(_norm(text)):
        if not sentence.strip():
            continue
        # The track's own title and artist are facts (and may hold any word, "Dark Forest").
        masked = sentence
        for phrase, kind in ((facts.title, "title"), (facts.artist, "artist")):
            if phrase:
                masked, n = guard._mask(masked, [phrase], " § ")
                report.claims += [Claim(kind, phrase, True)] * n
        masked, _ = guard._mask(masked, label_names(video), " ¤ ")
        clauses = []
        for clause in _CLAUSE_SPLIT.split(masked):
            found, clause = _clause_video_claims(clause, video, bool(_VIDEO_ANCHOR.search(clause)))
            report.claims += found
            clauses.append(clause)
        rest = " ; ".join(clauses)
        track_claims = [c for c in guard.claims(rest, facts, video) if c.kind != "title" or not c.supported]
        report.claims += track_claims
        report.claims += _names_and_numbers(rest, facts, video, known)
        report.contradictions += [c for c in track_claims if _against(request, c)]
        if _ASKED_RE.search(sentence):
            report.claims += _asked_claims(sentence, track_claims, request, facts)
    # Words that name the video's own labels are claims too, and backed.
    for name in label_names(video):
        n = len(re.findall(r"(?<!\w)" + re.escape(name) + r"(?!\w)", _norm(text), re.IGNORECASE))
        report.claims += [Claim("scene", name, True, name)] * n
    return report


def goes_against(text: str, facts: TrackFacts, preference: str | None) -> bool:
    """Does ``text`` (a phrase about the track) praise the opposite of the request?"""
    return bool(preference) and bool(verify(text, facts, None, preference).contradictions)


def _asked_claims(sentence: str, track_claims: list[Claim], request: Request, facts: TrackFacts) -> list[Claim]:
    """The "you asked for …" claims of one sentence."""
    said = [c for c in track_claims if c.kind in ("tempo", "vocals", "tag")]
    if not said:
        # "Just what you asked for": every wish must be met, and there must be one.
        ok = bool(request) and all(met(w, facts) for w in request.wishes)
        return [Claim("request", _ASKED_RE.search(sentence).group(0), ok)]
    out = []
    for c in said:
        wish = next((w for w in request.wishes if _request_match(w, c)), None)
        ok = wish is not None and c.supported and bool(met(wish, facts))
        out.append(Claim("request", c.text, ok, c.value, c.negated))
    return out


@lru_cache(maxsize=256)
def _request(preference: str | None) -> Request:
    return read_request(preference)


@dataclass
class Faithfulness:
    """The four figures over a set of explanations (see ``summarise``)."""

    explanations: int
    claims: int
    supported_rate: float  # supported claims / claims
    with_unsupported: float  # share of explanations with >= 1 unsupported claim
    contradictions: int  # claims against the request
    unknown_names: int  # capitalised names not in the facts
    video_unsupported: int  # claims about the video the facts don't back

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def summarise(reports: list[ClaimReport]) -> Faithfulness:
    """The figures over ``reports`` (one per explanation)."""
    claims = [c for r in reports for c in r.claims]
    ok = sum(c.supported for c in claims)
    return Faithfulness(
        explanations=len(reports), claims=len(claims),
        supported_rate=ok / len(claims) if claims else 1.0,
        with_unsupported=sum(bool(r.unsupported) for r in reports) / len(reports) if reports else 0.0,
        contradictions=sum(len(r.contradictions) for r in reports),
        unknown_names=sum(len(r.unknown_names) for r in reports),
        video_unsupported=sum(1 for c in claims if c.kind in VIDEO_KINDS and not c.supported))
