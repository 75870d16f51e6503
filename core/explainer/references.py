"""Synthesised reference explanations (and user preferences) built from track facts.

The paper's references were written by GPT-3.5 from tags and metadata; here templates with
varied wording play that part, and they say only what the facts say, so a model trained
on them learns to be faithful. Phrasings are split: the ``test`` templates and preference
wordings are never seen in training, and ``core.explainer.data`` also holds out tracks, so
a test score is not memorisation of either.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from core.explainer.claims import goes_against, verify
from core.explainer.facts import TrackFacts, tempo_band
from core.explainer.guard import describable_tags, fallback_sentence
from core.explainer.request import met_wishes, read_request
from core.video_facts import COLOUR_NAMES, ContentLabel, VideoFacts

# Content labels a video's facts may carry (coarse ImageNet groups and scene settings):
# sampled for training so the model learns to name a label only when the facts give one.
CONTENT_LABELS = ["animals", "road vehicles", "boats", "aircraft", "buildings", "mountains", "water and shore",
                  "snow sports", "food", "snow", "desert", "forest", "cave", "castle", "underwater", "city"]
# Share of sampled videos without facts (their explanations must say nothing about the video).
NO_FACTS_SHARE = 0.1

# --------------------------------------------------------------------------------------
# Wording of each fact. Every word here is one the guard accepts for such a fact.
# --------------------------------------------------------------------------------------

# No word here is also a word about footage (core.video_facts.VIDEO_WORDS: "unhurried",
# "steady pace"), so a sentence never reads as describing the video with the music's words.
_TEMPO_WORDS = {"slow": ["slow", "relaxed", "gentle"],
                "moderate": ["mid-tempo", "steady", "moderate"],
                "fast": ["fast", "upbeat", "energetic"]}
_TEMPO_FORMS = ["a {w} tempo of about {bpm} BPM", "a {w} groove", "a {w} {bpm} BPM pulse",
                "a {w} rhythm around {bpm} BPM", "a {w} beat"]
_TAG_FORMS = ["a {tags} sound", "its {tags} character", "a {tags} feel", "a {tags} mood"]
_INSTRUMENTAL_FORMS = ["no vocals", "an instrumental arrangement", "no singing", "no lyrics"]
_VOCAL_FORMS = ["vocals", "a singing voice", "sung vocals", "a lead vocal"]
_ANCHORS = ["video", "clip", "footage"]
# Statements that read as adjectives ("your dark, fast-paced clip") and as nouns ("your clip,
# with its warm tones").
_ADJECTIVAL = {"fast-paced", "slow-moving", "nearly still", "dark", "bright", "colourful"}


def _and(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _title(facts: TrackFacts, rng: random.Random) -> str:
    title = f"“{facts.title}”" if rng.random() < 0.7 else facts.title
    return f"{title} by {facts.artist}" if facts.artist and rng.random() < 0.8 else title


def _scene(video: VideoFacts | None, rng: random.Random) -> str:
    """How a reference names the video: only with the video's own statements."""
    anchor = rng.choice(_ANCHORS)
    if video is None:
        return f"your {anchor}"
    labels = {label.name for label in video.labels}
    said = rng.sample(video.statements(), min(len(video.statements()), rng.choice([1, 2, 2])))
    adjectives = [x for x in said if x in _ADJECTIVAL]
    label = next((x for x in said if x in labels), None)
    rest = [x for x in said if x not in _ADJECTIVAL and x not in labels]
    text = "your " + (", ".join(adjectives) + " " if adjectives else "") + anchor
    if label:
        text = rng.choice([f"{text} of {label}", f"the {label} in {text}"])
    nouns = [x for x in rest if not x.startswith("mostly ")]
    if nouns:
        text += ", with its " + _and(nouns)
    text += "".join(f", {x}" for x in rest if x.startswith("mostly "))
    return text


def _description(facts: TrackFacts, rng: random.Random, preference: str | None = None) -> str:
    """Two of the track's facts in words, never one that goes against the request."""
    parts = []
    tags = describable_tags(facts, k=rng.choice([1, 2, 2, 3]))
    if tags:
        parts.append(rng.choice(_TAG_FORMS).format(tags=_and(tags) if len(tags) < 3 else ", ".join(tags)))
    band = tempo_band(facts.tempo_bpm)
    if band is not None:
        form = rng.choice(_TEMPO_FORMS)
        parts.append(form.format(w=rng.choice(_TEMPO_WORDS[band]), bpm=round(facts.tempo_bpm)))
    if facts.instrumental is not None:
        parts.append(rng.choice(_INSTRUMENTAL_FORMS if facts.instrumental else _VOCAL_FORMS))
    parts = [p for p in parts if not goes_against(p, facts, preference)]
    if len(parts) > 2:
        # Three facts in one breath reads like a list; keep two, the tags first when present.
        parts = parts[:1] + rng.sample(parts[1:], 1)
    rng.shuffle(parts)
    return _and(parts) if parts else "its sound"


# --------------------------------------------------------------------------------------
# Templates: {T} title (and artist), {D} description, {S} scene. Train and test disjoint.
# --------------------------------------------------------------------------------------

TRAIN_TEMPLATES = [
    "{T} fits {S}: {D}.",
    "With {D}, {T} suits {S}.",
    "{T} brings {D} to {S}.",
    "For {S}, {T} works well thanks to {D}.",
    "{T} is a good match for {S}, offering {D}.",
    "{T} is made for {S}, with {D}.",
    "I picked {T} for {S} because of {D}.",
    "{T} sits well under {S}, with {D}.",
    "{D_cap}: that is what makes {T} a natural fit for {S}.",
    "Try {T} for {S}: it has {D}.",
    "{T} backs {S} with {D}.",
    "{T} suits {S}; it has {D}.",
]
TEST_TEMPLATES = [
    "{T} matches {S} with {D}.",
    "Thanks to {D}, {T} complements {S}.",
    "{T} gives {S} {D}.",
    "Picked for {S}: {T}, with {D}.",
]


def _render(template: str, facts: TrackFacts, video: VideoFacts | None, rng: random.Random,
            preference: str | None = None) -> str:
    d = _description(facts, rng, preference)
    s = _scene(video, rng)
    text = template.format(T=_title(facts, rng), D=d, S=s, D_cap=d[:1].upper() + d[1:],
                           S_cap=s[:1].upper() + s[1:])
    text = re.sub(r"\b([Aa]) (?=[aeiouAEIOU8])", r"\1n ", text)  # "a upbeat" -> "an upbeat"
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------------------
# Preferences: what the listener said, and how a reference acknowledges it
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Preference:
    """A synthesised preference: the user's words and the fact they ask about."""

    text: str
    aspect: str | None  # "tempo:<band>", "vocals:instrumental|vocals", "tag:<tag>" or None
    satisfied: bool  # does the explained track have what was asked for?


_PREF_TEMPO = {
    "train": {"slow": ["something slower", "calmer please", "less energetic", "more relaxed, please"],
              "moderate": ["not too fast, not too slow", "something steady", "medium pace"],
              "fast": ["more upbeat", "faster please", "something with more energy", "pick up the pace"]},
    "test": {"slow": ["can we slow it down?", "a bit more chill"],
             "moderate": ["somewhere in the middle tempo-wise"],
             "fast": ["needs more drive and speed", "go quicker"]},
}
_PREF_VOCALS = {
    "train": {True: ["no vocals", "without singing please", "instrumental only", "no lyrics"],
              False: ["with vocals", "I want singing", "something with a voice"]},
    "test": {True: ["drop the singer", "nobody singing, please"],
             False: ["a track someone sings on"]},
}
_PREF_TAG = {"train": ["more {tag}", "I'd like some {tag}", "{tag} would be nice", "something {tag}"],
             "test": ["how about {tag}?", "lean towards {tag}"]}
_PREF_OTHER = {"train": ["something different", "try again", "hmm, not that one", "another one",
                         "I like it but show me more", "🎵🎵", "ok", "next"],
               "test": ["meh", "what else do you have?"]}
_ACK = {"tempo": ["It is {w}, as you asked.", "That gives you the {w} tempo you wanted."],
        "vocals:instrumental": ["It is instrumental, as you asked.", "No vocals, as requested."],
        "vocals:vocals": ["It has the vocals you asked for.", "It has vocals, as requested."],
        "tag": ["It has the {tag} sound you asked for.", "That is the {tag} feel you wanted."],
        "mood": ["It has the {tag} mood you asked for."]}


def synth_preference(facts: TrackFacts, rng: random.Random, split: str = "train") -> Preference | None:
    """A plausible user preference for a turn whose pick is ``facts`` (None: first turn)."""
    r = rng.random()
    if r < 0.35:
        return None
    if r < 0.45:
        return Preference(rng.choice(_PREF_OTHER[split]), None, False)
    satisfied = rng.random() < 0.65
    kinds = []
    band = tempo_band(facts.tempo_bpm)
    if band:
        kinds.append("tempo")
    if facts.instrumental is not None:
        kinds.append("vocals")
    tags = describable_tags(facts, k=3)
    if tags:
        kinds.append("tag")
    if not kinds:
        return Preference(rng.choice(_PREF_OTHER[split]), None, False)
    kind = rng.choice(kinds)
    if kind == "tempo":
        want = band if satisfied else rng.choice([b for b in ("slow", "moderate", "fast") if b != band])
        return Preference(rng.choice(_PREF_TEMPO[split][want]), f"tempo:{want}", satisfied)
    if kind == "vocals":
        want = facts.instrumental if satisfied else not facts.instrumental
        aspect = "vocals:instrumental" if want else "vocals:vocals"
        return Preference(rng.choice(_PREF_VOCALS[split][want]), aspect, satisfied)
    if satisfied:
        tag = rng.choice(tags)
    else:
        tag = rng.choice([t for t in ("jazz", "piano", "rock", "ambient", "guitar", "electronic", "strings")
                          if t not in {x.lower() for x in facts.tags}])
    return Preference(rng.choice(_PREF_TAG[split]).format(tag=tag), f"tag:{tag}", satisfied)


def _acknowledge(pref: Preference | None, facts: TrackFacts, rng: random.Random) -> str:
    """One sentence saying a wish was met, only for a wish the words express (as
    ``core.explainer.request`` reads them) and the track's facts meet."""
    if pref is None:
        return ""
    met = met_wishes(read_request(pref.text), facts)
    if not met:
        return ""  # never claim a wish was met when the facts don't say so
    wish = rng.choice(met)
    if wish.aspect == "pace":
        return " " + rng.choice(_ACK["tempo"]).format(w=rng.choice(_TEMPO_WORDS[wish.value]))
    if wish.aspect == "vocals":
        return " " + rng.choice(_ACK[f"vocals:{wish.value}"])
    if not wish.wanted:
        return ""
    return " " + rng.choice(_ACK["mood" if wish.aspect == "mood" else "tag"]).format(tag=wish.value)


def reference(facts: TrackFacts, video: VideoFacts | None, preference: Preference | None,
              rng: random.Random, template: str) -> str:
    """One reference explanation in the wording of ``template``. Every reference passes the
    claim check (``core.explainer.claims``): an acknowledgement that would not is dropped,
    and a sentence that would not is replaced by the factual fallback."""
    pref_text = preference.text if preference else None
    body = _render(template, facts, video, rng, pref_text)
    full = body + _acknowledge(preference, facts, rng)
    for text in (full, body):
        if not verify(text, facts, video, pref_text).failed_checks():
            return text
    return fallback_sentence(facts, video, pref_text)


def sample_video_facts(rng: random.Random) -> VideoFacts | None:
    """Plausible measured facts of a video (or None, ``NO_FACTS_SHARE`` of the time): a pace,
    light, colour and tone drawn across their bands, 0-3 named colours, and sometimes a
    confident content label."""
    if rng.random() < NO_FACTS_SHARE:
        return None
    pace = rng.choice(["still", "slow", "moderate", "fast", "fast"])
    motion = {"still": (0.0, 0.014), "slow": (0.02, 0.075), "moderate": (0.09, 0.24), "fast": (0.26, 0.7)}[pace]
    cuts = rng.choice([0.0, 0.0, rng.uniform(2, 15)]) if pace != "still" else 0.0
    if pace == "fast" and rng.random() < 0.4:
        cuts = rng.uniform(20, 60)
    labels = []
    if rng.random() < 0.3:
        labels = [ContentLabel(rng.choice(CONTENT_LABELS), round(rng.uniform(0.6, 0.97), 3), "sampled")]
    return VideoFacts(motion=round(rng.uniform(*motion), 4), cuts_per_min=round(cuts, 2),
                      brightness=round(rng.uniform(0.08, 0.9), 4), contrast=round(rng.uniform(0.04, 0.35), 4),
                      colourfulness=round(rng.uniform(4, 95), 2), warmth=round(rng.uniform(-0.15, 0.15), 4),
                      colours=rng.sample(COLOUR_NAMES, rng.choice([0, 1, 2, 2, 3])), labels=labels)
