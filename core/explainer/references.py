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

from core.explainer.facts import TrackFacts, tempo_band
from core.explainer.guard import describable_tags

# What the frames of a video may show: ImageNet class names (first synonym), the label
# space of the offline frame encoder. Used to sample plausible scenes for training.
SCENE_LABELS = [
    "seashore", "lakeside", "alp", "valley", "volcano", "cliff", "coral reef", "sandbar", "geyser",
    "promontory", "fountain", "castle", "palace", "monastery", "church", "library", "restaurant",
    "bakery", "barbershop", "cinema", "stage", "planetarium", "steel arch bridge", "suspension bridge",
    "viaduct", "dam", "boathouse", "yurt", "cliff dwelling", "racer", "sports car", "convertible",
    "go-kart", "mountain bike", "motor scooter", "snowmobile", "ski", "speedboat", "canoe", "gondola",
    "schooner", "liner", "airliner", "space shuttle", "steam locomotive", "bullet train", "streetcar",
    "tractor", "golden retriever", "tabby", "Persian cat", "red fox", "timber wolf", "brown bear",
    "giant panda", "tiger", "lion", "African elephant", "zebra", "hummingbird", "flamingo",
    "king penguin", "goldfish", "jellyfish", "monarch", "daisy", "volleyball", "soccer ball",
    "basketball", "balloon", "parachute", "carousel", "torch", "candle", "jack-o'-lantern", "pizza",
    "ice cream", "espresso", "acoustic guitar", "grand piano", "violin", "drum", "maze",
    "scoreboard", "tennis ball", "laptop", "television", "desktop computer", "sunglasses",
    "umbrella", "tent", "backpack", "wedding gown", "groom", "scuba diver", "snorkel", "lifeboat",
    "pier", "breakwater", "greenhouse", "barn", "picket fence", "stone wall", "traffic light",
    "street sign", "police van", "fire engine", "ambulance", "school bus", "trolleybus", "tank",
    "warplane", "wreck", "shipwreck", "comic book", "book jacket", "envelope", "hourglass",
    "analog clock", "spider web", "bubble", "ski mask", "crash helmet", "knot", "toyshop",
]

# --------------------------------------------------------------------------------------
# Wording of each fact. Every word here is one the guard accepts for such a fact.
# --------------------------------------------------------------------------------------

_TEMPO_WORDS = {"slow": ["slow", "unhurried", "gentle"],
                "moderate": ["mid-tempo", "steady", "moderate"],
                "fast": ["fast", "upbeat", "energetic"]}
_TEMPO_FORMS = ["a {w} tempo of about {bpm} BPM", "a {w} pace", "a {w} {bpm} BPM pulse",
                "a {w} rhythm around {bpm} BPM", "a {w} beat"]
_TAG_FORMS = ["a {tags} sound", "its {tags} character", "a {tags} feel", "{tags} colours",
              "a {tags} mood"]
_INSTRUMENTAL_FORMS = ["no vocals", "an instrumental arrangement", "no singing", "no lyrics"]
_VOCAL_FORMS = ["vocals", "a singing voice", "sung vocals", "a lead vocal"]
_SCENE_FORMS = ["the {labels} in your video", "a video of the {labels}", "footage of the {labels}",
                "the {labels} on screen", "your clip of the {labels}"]


def _and(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _title(facts: TrackFacts, rng: random.Random) -> str:
    title = f"“{facts.title}”" if rng.random() < 0.7 else facts.title
    return f"{title} by {facts.artist}" if facts.artist and rng.random() < 0.8 else title


def _scene(labels: list[str], rng: random.Random) -> str:
    shown = labels[: rng.choice([1, 2])] if labels else []
    if not shown:
        return "your video"
    return rng.choice(_SCENE_FORMS).format(labels=_and(shown))


def _description(facts: TrackFacts, rng: random.Random) -> str:
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


def _render(template: str, facts: TrackFacts, labels: list[str], rng: random.Random) -> str:
    d = _description(facts, rng)
    s = _scene(labels, rng)
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
_ACK = {"tempo": ["It is {w}, as you asked.", "That gives you the {w} pace you wanted."],
        "vocals:instrumental": ["It is instrumental, as you asked.", "No vocals, as requested."],
        "vocals:vocals": ["It has the vocals you asked for.", "It has vocals, as requested."],
        "tag": ["It has the {tag} sound you asked for.", "That is the {tag} feel you wanted."]}


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
    if pref is None or not pref.satisfied or pref.aspect is None:
        return ""  # never claim a wish was met when the facts don't say so
    kind, _, value = pref.aspect.partition(":")
    if kind == "tempo":
        return " " + rng.choice(_ACK["tempo"]).format(w=rng.choice(_TEMPO_WORDS[value]))
    if kind == "vocals":
        return " " + rng.choice(_ACK[pref.aspect])
    return " " + rng.choice(_ACK["tag"]).format(tag=value)


def reference(facts: TrackFacts, labels: list[str], preference: Preference | None,
              rng: random.Random, template: str) -> str:
    """One reference explanation in the wording of ``template``."""
    return _render(template, facts, labels, rng) + _acknowledge(preference, facts, rng)


def sample_labels(rng: random.Random) -> list[str]:
    """1-3 scene labels, as the frame encoder's top classes would be."""
    return rng.sample(SCENE_LABELS, rng.choice([1, 2, 2, 3]))

