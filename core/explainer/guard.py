"""Keeping the explainer honest and safe in a public chat.

Two directions:

* In: the user's words are *data*. ``quote_preference`` strips control characters and
  anything that looks like a chat-role marker or special token, removes sentences that try
  to instruct the model, masks blocked words and caps the length. The prompt then quotes
  the result between delimiters (and tokenises it with special tokens split, see
  ``core.explainer.model``).
* Out: every generated sentence is checked by ``OutputGuard``: length, no other catalog
  track's title, no links or mentions, no profanity, no prompt leakage, and no claim
  that contradicts the track's facts. A failed check is replaced by ``fallback_sentence``,
  which says only what the facts say, and the replacement is flagged.

The claim vocabulary below is the one place that decides which words are checkable
claims (vocals, tempo, genre, instrument, mood) and which facts support them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.explainer.facts import TrackFacts, tempo_band

MAX_PREFERENCE_CHARS = 300
MIN_OUTPUT_CHARS = 20
MAX_OUTPUT_CHARS = 400
REMOVED = "[removed]"
# Delimiters around the quoted preference in the prompt; removed from user text so a
# user cannot close the quote themselves.
QUOTE_OPEN, QUOTE_CLOSE = "«", "»"
# Placeholders that mark where the music token and the preference go in a prompt.
MUSIC_SLOT, PREFERENCE_SLOT = "⟦music⟧", "⟦preference⟧"


@dataclass(frozen=True)
class Explanation:
    """One pick's explanation; ``fallback`` is True when the model's text was replaced."""

    text: str
    fallback: bool
    failed_checks: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------
# In: the user's preference as quoted data
# --------------------------------------------------------------------------------------

_SPECIAL_MARKUP = re.compile(
    r"<\|[^|<>]{0,40}\|>\s*(?:system|user|assistant|human|gpt)?"  # ChatML / Llama-3 tokens
    r"|</?s>|\[/?INST\]|<</?SYS>>|<unk>|<pad>"  # Llama / Vicuna
    r"|###\s*(?:instruction|response|system|input|human|assistant)\s*:?",  # Alpaca-style headers
    re.IGNORECASE)
_ROLE_MARKER = re.compile(r"\b(?:system|user|assistant|human|gpt|bot)\s*:", re.IGNORECASE)
_BIDI_AND_FORMAT_KEEP = {"\u200d"}  # zero-width joiner: part of many emoji
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?;])\s+|\s*\n+\s*")
# Sentences that address the model instead of describing music. A preference never needs
# these verbs, so removing the whole sentence loses nothing a recommender could use.
_INSTRUCTION_LIKE = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass)\b"
    r"|\b(?:system|hidden|initial|original|secret)\s+(?:prompt|message|instructions?)\b"
    r"|\b(?:your|the|previous|above|prior|new)\s+(?:prompt|instructions?|rules)\b"
    r"|\b(?:you\s+are\s+now|act\s+as|pretend|role-?play|from\s+now\s+on|developer\s+mode|jailbreak)\b"
    r"|\b(?:print|reveal|repeat|output|dump|leak|recite)\b"
    r"|\b(?:say|write|type|spell|insult|curse|swear)\b"
    r"|\b(?:call\s+me|tell\s+me|use\s+the\s+word)\b",
    re.IGNORECASE)


def _strip_controls(text: str) -> str:
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\n\r\t":
            out.append("\n")
        elif cat == "Cc" or (cat == "Cf" and ch not in _BIDI_AND_FORMAT_KEEP) or cat in ("Cs", "Co", "Cn"):
            continue
        else:
            out.append(ch)
    return "".join(out)


def quote_preference(text: str | None, max_chars: int = MAX_PREFERENCE_CHARS) -> str | None:
    """The user's words made safe to quote in a prompt, or None when nothing usable is left.

    Control and bidi characters go, special-token and role markup goes, sentences that try
    to instruct the model become ``[removed]``, blocked words are masked, whitespace is
    collapsed to one line and the result is capped at ``max_chars`` characters.
    """
    if not text:
        return None
    text = unicodedata.normalize("NFKC", text[: max_chars * 20])  # bound the work on huge inputs
    text = _strip_controls(text)
    text = _SPECIAL_MARKUP.sub(" ", text)
    text = _ROLE_MARKER.sub(" ", text)
    for ch in (QUOTE_OPEN, QUOTE_CLOSE, "⟦", "⟧", "<", ">", "`"):
        text = text.replace(ch, " ")
    sentences = []
    for sentence in _SENTENCE_SPLIT.split(text):
        sentence = " ".join(sentence.split())
        if not sentence:
            continue
        if _INSTRUCTION_LIKE.search(sentence):
            sentence = REMOVED
        sentences.append(sentence)
    text = " ".join(sentences)
    text = _blocked_words().sub(REMOVED, text)
    # Nothing but removals left: drop the preference, so the prompt is as if none was given.
    if not re.sub(re.escape(REMOVED), "", text).strip(" .,!?;:-"):
        return None
    if len(text) > max_chars:
        cut = text[:max_chars]
        text = (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"
    return text


def clean_fact(text: str, limit: int = 120) -> str:
    """A catalog string (title, artist, label) fit for a prompt line: one line, no markup
    that could end a turn or a quote, at most ``limit`` characters."""
    text = _SPECIAL_MARKUP.sub(" ", _strip_controls(unicodedata.normalize("NFKC", text)))
    for ch in (QUOTE_OPEN, QUOTE_CLOSE, "⟦", "⟧"):
        text = text.replace(ch, " ")
    return " ".join(text.split())[:limit]


# --------------------------------------------------------------------------------------
# Claim vocabulary: which words are checkable, and which facts support them
# --------------------------------------------------------------------------------------

# word in an explanation -> the tags (lower-case, as MTT/MSD taggers spell them) that
# support it. An empty set means no tagger can confirm it, so saying it is unsupported.
_TAG_SUPPORT: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in {
    # genres
    "rock": {"rock", "classic rock", "hard rock", "alternative rock", "indie rock", "progressive rock"},
    "metal": {"metal", "heavy metal"},
    "pop": {"pop", "indie pop"},
    "jazz": {"jazz"}, "jazzy": {"jazz"},
    "blues": {"blues"}, "bluesy": {"blues"},
    "folk": {"folk"}, "country": {"country"}, "punk": {"punk"},
    "funk": {"funk"}, "funky": {"funk"},
    "soul": {"soul", "rnb"}, "soulful": {"soul", "rnb"}, "r&b": {"rnb", "soul"}, "rnb": {"rnb", "soul"},
    "hip-hop": {"hip-hop"}, "hip hop": {"hip-hop"},
    "electronic": {"electronic", "electronica", "electro", "techno", "house", "synth"},
    "electronica": {"electronic", "electronica", "electro"},
    "electro": {"electronic", "electronica", "electro"},
    "techno": {"techno"}, "house": {"house"},
    "dance": {"dance", "party", "house", "techno"},
    "ambient": {"ambient", "chillout", "chill", "new age"},
    "chillout": {"chillout", "chill", "ambient"},
    "classical": {"classical", "classic", "opera", "harpsichord"},
    "orchestral": {"classical", "strings", "violin", "cello"},
    "orchestra": {"classical", "strings", "violin", "cello"},
    "opera": {"opera"}, "operatic": {"opera"},
    "new age": {"new age"},
    "indie": {"indie", "indie rock", "indie pop"},
    "alternative": {"alternative", "alternative rock"},
    "experimental": {"experimental"},
    "acoustic": {"acoustic"},
    "easy listening": {"easy listening"},
    "indian": {"indian", "sitar"},
    "reggae": set(), "disco": set(), "trance": set(), "dubstep": set(), "ska": set(),
    "gospel": set(), "grunge": set(), "swing": set(), "latin": set(), "edm": set(),
    # instruments
    "piano": {"piano"}, "pianos": {"piano"},
    "guitar": {"guitar"}, "guitars": {"guitar"},
    "drums": {"drums", "beat", "beats"}, "drum": {"drums", "beat", "beats"},
    "percussion": {"drums", "beat", "beats"}, "beats": {"beat", "beats", "drums"},
    "strings": {"strings", "violin", "cello", "harp"},
    "violin": {"violin"}, "violins": {"violin"}, "fiddle": {"violin"},
    "cello": {"cello"}, "cellos": {"cello"},
    "harp": {"harp"}, "flute": {"flute"}, "flutes": {"flute"},
    "sitar": {"sitar"}, "harpsichord": {"harpsichord"},
    "synth": {"synth", "electronic", "electro", "techno"},
    "synths": {"synth", "electronic", "electro", "techno"},
    "synthesizer": {"synth", "electronic", "electro", "techno"},
    "synthesizers": {"synth", "electronic", "electro", "techno"},
    "bass": set(), "bassline": set(), "trumpet": set(), "trumpets": set(), "brass": set(),
    "saxophone": set(), "sax": set(), "organ": set(), "banjo": set(), "accordion": set(),
    "bagpipes": set(), "ukulele": set(), "clarinet": set(), "trombone": set(), "horns": set(),
    "xylophone": set(), "marimba": set(),
    # moods the taggers name
    "sad": {"sad"}, "happy": {"happy"}, "beautiful": {"beautiful"}, "catchy": {"catchy"},
    "weird": {"weird"}, "loud": {"loud"}, "quiet": {"quiet"}, "soft": {"soft"},
    "mellow": {"mellow", "chillout", "chill", "soft", "easy listening"},
    "sexy": {"sexy"},
}.items()}

_TEMPO_WORDS: dict[str, str] = {
    **dict.fromkeys(["fast", "fast-paced", "upbeat", "up-tempo", "uptempo", "energetic",
                     "high-energy", "brisk", "quick", "lively", "racing", "frantic", "driving"], "fast"),
    **dict.fromkeys(["slow", "slow-paced", "unhurried", "leisurely", "calm", "gentle", "relaxed",
                     "relaxing", "laid-back", "languid", "soothing"], "slow"),
    **dict.fromkeys(["mid-tempo", "midtempo", "moderate", "steady", "medium-paced", "mid-paced"],
                    "moderate"),
}
# Tags that describe the feel directly; they support a tempo word even when the beat
# tracker's number disagrees (beat trackers halve and double).
_TEMPO_TAGS = {
    "fast": {"fast", "dance", "party", "techno", "house", "metal", "heavy metal", "hard rock", "punk"},
    "slow": {"slow", "soft", "quiet", "mellow", "chillout", "chill", "ambient", "new age",
             "easy listening"},
    "moderate": set(),
}
# Tolerant bands for checking (the strict ones in facts.tempo_band produce the words).
_TEMPO_OK = {"slow": (0.0, 100.0), "moderate": (80.0, 130.0), "fast": (110.0, 1e9)}

_VOCAL_WORDS = ["vocal", "vocals", "vocalist", "vocalists", "voice", "voices", "singing", "sung",
                "singer", "singers", "sings", "sing", "lyrics", "lyric", "choir", "choral",
                "chant", "chanting", "rap", "rapping", "rapper", "a cappella"]
_INSTRUMENTAL = re.compile(
    r"\b(?:instrumental|wordless|vocal-free"
    r"|no\s+(?:vocals?|voices?|singing|singers?|lyrics)"
    r"|without\s+(?:any\s+)?(?:vocals?|voices?|singing|singers?|lyrics))\b", re.IGNORECASE)
_NEGATORS = {"not", "no", "without", "never", "nor", "lacks", "lacking", "isn't", "aren't",
             "doesn't", "don't", "isnt", "arent", "doesnt", "dont"}


def _word_pattern(words: Iterable[str]) -> re.Pattern[str]:
    alts = sorted((re.escape(w).replace(r"\ ", r"\s+") for w in words), key=len, reverse=True)
    return re.compile(r"(?<![\w-])(" + "|".join(alts) + r")(?![\w-])", re.IGNORECASE)


_TAG_RE = _word_pattern(_TAG_SUPPORT)
_TEMPO_RE = _word_pattern(_TEMPO_WORDS)
_VOCAL_RE = _word_pattern(_VOCAL_WORDS)
_BPM_RE = re.compile(r"\b(\d{2,3}(?:\.\d)?)\s*-?\s*(?:bpm|beats\s+per\s+minute)\b", re.IGNORECASE)
_BY_NAME_RE = re.compile(r"\bby\s+((?:[A-Z0-9][\w'’&.-]*)(?:\s+(?:[A-Z0-9][\w'’&.-]*|of|the|and|de|von|van))*)")

_URL_RE = re.compile(
    r"(?:\b(?:https?|ftp)://|\bwww\.|\b[\w-]+\.(?:com|net|org|io|gg|ly|me|co|app|dev|xyz|info|tv|fm|be|uk|de)\b"
    r"|discord\.gg)", re.IGNORECASE)
_MENTION_RE = re.compile(r"(?<![\w.])@\w+|<[@#][!&]?\d+>|<!(?:here|channel|everyone)[^>]*>")
_MD_LINK_RE = re.compile(r"\[[^\]\n]*\]\([^)\n]*\)|<https?:[^>]*>")
_LEAK_RE = re.compile(
    r"<\||\|>|</?s>|\[/?INST\]|\b(?:USER|ASSISTANT|SYSTEM)\s*:|system\s+prompt|quoted\s+data"
    r"|not\s+instructions|⟦|⟧|" + re.escape(REMOVED), re.IGNORECASE)


@lru_cache(maxsize=1)
def _blocked_words() -> re.Pattern[str]:
    words = []
    for line in (Path(__file__).with_name("blocklist.txt")).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words.append(re.escape(line[:-1]) + r"\w*" if line.endswith("*") else re.escape(line))
    return re.compile(r"(?<!\w)(?:" + "|".join(words) + r")(?!\w)", re.IGNORECASE)


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).replace("’", "'").split())


def _phrase_re(phrase: str, case_sensitive: bool = False) -> re.Pattern[str]:
    body = r"\s+".join(re.escape(p) for p in _norm(phrase).split())
    return re.compile(r"(?<!\w)" + body + r"(?!\w)", 0 if case_sensitive else re.IGNORECASE)


# --------------------------------------------------------------------------------------
# Out: claims and checks
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A checkable statement found in an explanation."""

    kind: str  # title | artist | vocals | tempo | bpm | tag
    text: str  # the words that make the claim
    supported: bool  # do the track's facts back it?


def _tags_of(facts: TrackFacts) -> set[str]:
    return {t.lower().strip() for t in facts.tags}


def _tag_supported(word: str, facts: TrackFacts) -> bool:
    return bool(_TAG_SUPPORT[word] & _tags_of(facts))


def _tempo_supported(band: str, facts: TrackFacts) -> bool | None:
    """True/False, or None when neither the tempo nor the tags tell."""
    if _TEMPO_TAGS[band] & _tags_of(facts):
        return True
    if facts.tempo_bpm is None:
        return None
    lo, hi = _TEMPO_OK[band]
    return lo <= facts.tempo_bpm < hi


_VERBAL_NEGATORS = {"not", "never", "nor", "lacks", "lacking"}


def _negated(text: str, start: int, verbal_only: bool = False) -> bool:
    """Is the word at ``start`` negated by one of the two words before it, in its clause?"""
    clause = re.split(r"[.;:!?,—]", text[max(0, start - 40):start])[-1]
    before = re.findall(r"[\w']+", clause.lower())[-2:]
    negators = _VERBAL_NEGATORS if verbal_only else _NEGATORS
    return any(w in negators or w.endswith("n't") for w in before)


def _garbled(text: str) -> bool:
    """Undecodable bytes, control characters, or too little text to be a sentence."""
    if any(ch == "\ufffd" or unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") for ch in text):
        return True
    letters = sum(ch.isalpha() or ch.isspace() for ch in text)
    return letters < 0.75 * len(text)


def _repetitive(text: str) -> bool:
    """The same three words three times: a model stuck in a loop."""
    words = re.findall(r"\w+", text.lower())
    grams = [tuple(words[i:i + 3]) for i in range(len(words) - 2)]
    return any(grams.count(g) >= 3 for g in set(grams))


class OutputGuard:
    """Checks generated explanations against a track's facts and the catalog's titles.

    ``known_titles``: every title in the catalog; naming any track but the explained one
    is a hallucination (or an advert for another pick) and fails the check.
    """

    def __init__(self, known_titles: Collection[str] = ()):
        # Titles are matched as written: a model naming a track copies its capitals, while
        # "main theme" or "rock" in ordinary prose is not the track "Main Theme" or "Rock".
        self._titles: dict[str, str] = {}  # normalised title -> title
        for title in known_titles:
            t = _norm(title)
            if len(t) >= 3 and any(ch.isupper() or ch.isdigit() for ch in t):
                self._titles[t] = title  # "A", "II" or all-lower words can't be told from prose
        alts = sorted((r"\s+".join(re.escape(p) for p in k.split()) for k in self._titles), key=len, reverse=True)
        self._title_re = re.compile(r"(?<!\w)(" + "|".join(alts) + r")(?!\w)") if alts else None

    # -- the parts of a text that are about things other than the track -----------------
    @staticmethod
    def _mask(text: str, phrases: Iterable[str], placeholder: str = " § ") -> tuple[str, int]:
        count = 0
        for phrase in sorted({p for p in phrases if p and p.strip()}, key=len, reverse=True):
            text, n = _phrase_re(phrase).subn(placeholder, text)
            count += n
        return text, count

    def other_titles(self, text: str, facts: TrackFacts, video_labels: Collection[str] = ()) -> list[str]:
        """Catalog titles other than this track's that ``text`` names."""
        if self._title_re is None:
            return []
        rest, _ = self._mask(_norm(text), [facts.title, facts.artist or "", *video_labels])
        found = []
        for m in self._title_re.finditer(rest):
            name = _norm(m.group(1))
            before = rest[:m.start()].rstrip()
            quoted = before.endswith(("“", '"', "'", "‘"))
            # A one-word title opening a sentence ("Sad and slow, ...") is just a capital.
            if " " not in name and not quoted and (not before or before[-1] in ".!?:;"):
                continue
            found.append(self._titles[name])
        own = _norm(facts.title).lower()
        return [t for t in dict.fromkeys(found) if _norm(t).lower() != own]

    def claims(self, text: str, facts: TrackFacts, video_labels: Collection[str] = ()) -> list[Claim]:
        """Every checkable claim in ``text`` and whether the facts support it."""
        text = _norm(text)
        out: list[Claim] = []
        rest, n = self._mask(text, [facts.title], " § ")
        out += [Claim("title", facts.title, True)] * n
        if facts.artist:
            rest, n = self._mask(rest, [facts.artist], " § ")
            out += [Claim("artist", facts.artist, True)] * n
        for t in self.other_titles(text, facts, video_labels):
            out.append(Claim("title", t, False))
        # What the video shows is not a claim about the music ("a grand piano on screen").
        rest, _ = self._mask(rest, video_labels, " ¤ ")
        for m in _BY_NAME_RE.finditer(rest):
            out.append(Claim("artist", m.group(1).rstrip(".,;:!?"), False))
        for m in _BPM_RE.finditer(rest):
            bpm = float(m.group(1))
            ok = facts.tempo_bpm is not None and abs(bpm - facts.tempo_bpm) <= 3.0
            out.append(Claim("bpm", m.group(0), ok))

        def instrumental_claim(words: str, says_instrumental: bool) -> None:
            ok = facts.instrumental is not None and facts.instrumental == says_instrumental
            out.append(Claim("vocals", words, ok))

        for m in _INSTRUMENTAL.finditer(rest):
            instrumental_claim(m.group(0), not _negated(rest, m.start(), verbal_only=True))
        rest = _INSTRUMENTAL.sub(" ", rest)
        for m in _VOCAL_RE.finditer(rest):
            instrumental_claim(m.group(0), _negated(rest, m.start()))
        for m in _TEMPO_RE.finditer(rest):
            band = _TEMPO_WORDS[m.group(1).lower()]
            ok = _tempo_supported(band, facts)
            if _negated(rest, m.start()):
                ok = None if ok is None else not ok
            # A tempo word that is also one of the track's tags ("slow") is supported by it.
            out.append(Claim("tempo", m.group(0), bool(ok) or m.group(1).lower() in _tags_of(facts)))
        for m in _TAG_RE.finditer(rest):
            word = _norm(m.group(1)).lower()
            ok = _tag_supported(word, facts)
            if _negated(rest, m.start()):
                ok = not ok
            out.append(Claim("tag", m.group(0), ok))
        return out

    def check(self, text: str, facts: TrackFacts, video_labels: Collection[str] = ()) -> list[str]:
        """Names of the failed checks ([] = fine to show)."""
        failed = []
        stripped = text.strip()
        if len(stripped) < MIN_OUTPUT_CHARS or len(stripped.split()) < 4:
            failed.append("too_short")
        if len(stripped) > MAX_OUTPUT_CHARS:
            failed.append("too_long")
        if stripped and stripped[-1] not in ".!?…”\"":
            failed.append("unfinished")  # cut off by the token bound
        if _garbled(stripped):
            failed.append("garbled")
        if _repetitive(stripped):
            failed.append("repetitive")
        if self.other_titles(stripped, facts, video_labels):
            failed.append("other_title")
        if _URL_RE.search(stripped):
            failed.append("url")
        if _MENTION_RE.search(stripped):
            failed.append("mention")
        if _MD_LINK_RE.search(stripped):
            failed.append("markdown_link")
        if _LEAK_RE.search(stripped):
            failed.append("prompt_leak")
        # Profanity in the track's own title or a label is not the model's doing.
        masked, _ = self._mask(_norm(stripped), [facts.title, facts.artist or "", *video_labels])
        if _blocked_words().search(masked):
            failed.append("profanity")
        if any(not c.supported and c.kind != "title" for c in self.claims(stripped, facts, video_labels)):
            failed.append("contradiction")
        return failed

    def apply(self, text: str, facts: TrackFacts, video_labels: Collection[str] = ()) -> Explanation:
        """The text if every check passes, else the factual fallback, flagged."""
        text = " ".join(text.split())
        failed = self.check(text, facts, video_labels)
        if failed:
            return Explanation(fallback_sentence(facts, video_labels), True, tuple(failed))
        return Explanation(text, False)


# --------------------------------------------------------------------------------------
# The fallback: only what the facts say
# --------------------------------------------------------------------------------------

_BAND_WORD = {"slow": "slow", "moderate": "mid-tempo", "fast": "fast"}


# Tagger outputs that are evidence for a voice rather than descriptions of the music.
_NOT_DESCRIPTIVE = {"male", "female", "woman", "man", "solo"}


def describable_tags(facts: TrackFacts, k: int = 3) -> list[str]:
    """Up to ``k`` of the track's tags worth saying: not about vocals (the vocals fact says
    that), not a tempo word when the tempo is known (the tempo phrase says that)."""
    out = []
    for tag in facts.tags:
        t = tag.strip().lower()
        if not t or t in _NOT_DESCRIPTIVE or _VOCAL_RE.search(t) or _INSTRUMENTAL.search(t):
            continue
        if facts.tempo_bpm is not None and _TEMPO_RE.fullmatch(t):
            continue
        out.append(tag)
        if len(out) == k:
            break
    return out


def tempo_phrase(facts: TrackFacts) -> str | None:
    band = tempo_band(facts.tempo_bpm)
    if band is None:
        return None
    return f"{_BAND_WORD[band]} at about {round(facts.tempo_bpm)} BPM"


def fallback_sentence(facts: TrackFacts, video_labels: Collection[str] = ()) -> str:
    """A short sentence built only from the facts (always passes ``OutputGuard.check``)."""
    head = f"“{facts.title}”" + (f" by {facts.artist}" if facts.artist else "")
    desc = []
    tags = describable_tags(facts)
    if tags:
        desc.append(", ".join(tags))
    tempo = tempo_phrase(facts)
    if tempo:
        desc.append(tempo)
    if facts.instrumental is not None:
        desc.append("instrumental" if facts.instrumental else "with vocals")
    label = next(iter(video_labels), None)
    scene = f"a match for the {label} in your video" if label else "a match for your video"
    if desc:
        return f"{head}: {'; '.join(desc)} — {scene}."
    return f"{head} is {scene}."


__all__ = [
    "Claim", "Explanation", "OutputGuard", "fallback_sentence", "quote_preference",
    "clean_fact", "describable_tags", "tempo_phrase", "MUSIC_SLOT", "PREFERENCE_SLOT", "QUOTE_OPEN", "QUOTE_CLOSE",
]
