"""What the user's words asked for, as the explainer may acknowledge it.

The conversation's request (``core.conversation.preferences``: the latest clause on each
aspect) is read with the same parser the engine uses (:func:`parse_feedback`), so the
explainer and the recommender agree on what was asked. From its filter operations and
clause aspects come :class:`Wish` es:

* ``pace``: "fast" | "slow" | "moderate" — from tempo and energy words ("faster", "calmer
  please", "something soothing", "not too fast"); "less"/"not too" turn a word round.
* ``vocals``: "instrumental" | "vocals" — from the vocals filter ("no vocals", "with vocals").
* ``style``: an instrument or genre the words name ("more piano"); ``wanted`` is False for
  "no drums", "less guitar".
* ``mood``: "happy" | "sad".

Words in other languages, or on no known aspect, give no wish: then nothing may be said
to have been asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.explainer.facts import TrackFacts, tempo_band

_FAST = re.compile(
    r"\b(?:faster|quicker|speed\s+(?:it\s+)?up|pick\s+up\s+the\s+pace|up-?tempo|fast|quick|energetic|energy|"
    r"upbeat|intense|intensity|livel(?:y|ier)|loud(?:er)?|powerful|punch(?:y|ier)|epic|exciting|heav(?:y|ier)|"
    r"aggressive|driving|drive|hype|action|speed)\b", re.IGNORECASE)
_SLOW = re.compile(
    r"\b(?:slower|slow(?:\s+(?:it\s+)?down)?|down-?tempo|calm(?:er)?|chill(?:er)?|relax(?:ed|ing)?|soft(?:er)?|"
    r"gentle(?:r)?|mellow(?:er)?|quiet(?:er)?|peaceful|soothing|laid[-\s]back|tone\s+it\s+down)\b", re.IGNORECASE)
_MODERATE = re.compile(r"\b(?:mid-?tempo|medium|moderate|middle|steady|in\s+between)\b", re.IGNORECASE)
_HAPPY = re.compile(r"\b(?:happ(?:y|ier)|cheerful|uplifting|joyful|fun|playful|sunny|positive)\b", re.IGNORECASE)
_SAD = re.compile(r"\b(?:sad(?:der)?|melanchol(?:y|ic)|gloomy|somber|sombre|darker|moody)\b", re.IGNORECASE)
# Words that turn the wish round when they come just before it ("less energy", "not too fast",
# "no drums"); "too" alone ("this is too fast") also asks for the opposite.
_TURN = re.compile(r"\b(?:less|lower|low|reduce|not|no|without|fewer|lose|drop|skip|too|n't|nothing|never)\b\W*(?:\w+\W+)?$",
                   re.IGNORECASE)

PACE_OPPOSITE = {"fast": "slow", "slow": "fast"}
MOOD_OPPOSITE = {"happy": "sad", "sad": "happy"}


@dataclass(frozen=True)
class Wish:
    """One thing the words asked for (``wanted``) or asked to avoid (not ``wanted``)."""

    aspect: str  # pace | vocals | style | mood
    value: str
    wanted: bool = True

    def phrase(self) -> str:
        """The wish in a few words ("fast", "instrumental", "no drums")."""
        return self.value if self.wanted else f"no {self.value}"


@dataclass(frozen=True)
class Request:
    wishes: frozenset[Wish] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.wishes)

    def get(self, aspect: str) -> list[Wish]:
        return sorted((w for w in self.wishes if w.aspect == aspect), key=lambda w: (w.value, w.wanted))


def _turned(clause: str, start: int) -> bool:
    return bool(_TURN.search(clause[:start]))


def _pace(clause: str) -> Wish | None:
    found: set[tuple[str, bool]] = set()
    for pattern, band in ((_FAST, "fast"), (_SLOW, "slow")):
        for m in pattern.finditer(clause):
            found.add((band, not _turned(clause, m.start())))
    if _MODERATE.search(clause):
        return Wish("pace", "moderate")
    wanted = {band if keep else PACE_OPPOSITE[band] for band, keep in found}
    if len(wanted) == 1:
        return Wish("pace", wanted.pop())
    if len(wanted) > 1:
        return Wish("pace", "moderate")  # "not too fast, not too slow"
    return None


def read_request(preference: str | None) -> Request:
    """The wishes in ``preference`` (the conversation's request text; None or blank: none)."""
    if not preference or not preference.strip():
        return Request()
    from core.conversation.preferences import parse_feedback

    fb = parse_feedback(preference, allow_empty=True)
    wishes: set[Wish] = set()
    for op in fb.ops:
        if op.action == "set" and op.name == "instrumental_only" and op.value:
            wishes = {w for w in wishes if w.aspect != "vocals"} | {Wish("vocals", "instrumental")}
        elif op.action == "set" and op.name == "vocals_only" and op.value:
            wishes = {w for w in wishes if w.aspect != "vocals"} | {Wish("vocals", "vocals")}
    paces: list[Wish] = []
    for clause in fb.clauses:
        text = clause.text
        if clause.aspects & {"tempo", "energy"}:
            wish = _pace(text)
            if wish:
                paces.append(wish)
        if "mood" in clause.aspects:
            for pattern, mood in ((_HAPPY, "happy"), (_SAD, "sad")):
                m = pattern.search(text)
                if m:
                    keep = not _turned(text, m.start())
                    wishes.add(Wish("mood", mood if keep else MOOD_OPPOSITE[mood]))
        for aspect in clause.aspects:
            if aspect.startswith("style:"):
                name = aspect.split(":", 1)[1]
                m = re.search(rf"\b{re.escape(name)}\b", text, re.IGNORECASE)
                wishes.add(Wish("style", name, wanted=not (m and _turned(text, m.start()))))
    if paces:
        values = {w.value for w in paces}
        # "steady, nothing too fast" or "not too fast, not too slow": the middle.
        wishes.add(Wish("pace", "moderate") if len(values) > 1 else paces[-1])
    return Request(frozenset(wishes))


def track_pace(track: TrackFacts) -> str | None:
    """The track's pace band (``facts.tempo_band`` of its tempo), None when unknown."""
    return tempo_band(track.tempo_bpm)


def met(wish: Wish, track: TrackFacts) -> bool | None:
    """Does the track have what ``wish`` asks for? None when its facts don't tell."""
    from core.explainer.guard import tag_supports

    if wish.aspect == "pace":
        band = track_pace(track)
        return None if band is None else band == wish.value
    if wish.aspect == "vocals":
        if track.instrumental is None:
            return None
        return track.instrumental == (wish.value == "instrumental")
    has = tag_supports(wish.value, track)
    return has if wish.wanted else not has


def met_wishes(request: Request, track: TrackFacts) -> list[Wish]:
    """The wishes in ``request`` that the track's facts show it meets, in a stable order."""
    return [w for w in sorted(request.wishes, key=lambda w: (w.aspect, w.value)) if met(w, track)]
