"""One tempo and one feel word per track: the beat tracker's number reconciled with what
the tagger hears and how dense the onsets are.

Beat trackers lock onto a multiple of the beat: a 66 bpm ballad with eighth-note hi-hats
reads as 132, which the tagger calls "slow". ``reconcile_tempo`` picks one of the octave
candidates (raw/2, raw, raw×2) by a short list of rules, each stated with its evidence,
and ``tempo_feel`` turns the chosen tempo into "slow" / "moderate" / "fast". The feel is
derived from the tempo, so the two cannot disagree; every display, filter and explanation
reads the same pair.

The thresholds below were set from musical reasoning (what a beat, a subdivision and a
sparse pulse look like), not fitted to any catalog.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# One definition of the feel bands; the explainer's tempo words use these too.
SLOW_BELOW_BPM = 90.0
FAST_FROM_BPM = 120.0

# Bump when the rule or the measurements change: `musechat catalog refacts` redoes
# tracks whose facts were derived by an older version.
RHYTHM_VERSION = 3

# The tagger's tempo tags: shown to nobody (the feel word replaces them).
TEMPO_TAGS = frozenset({"slow", "fast"})
# Tags (musicnn MTT and MSD, lower-case) that hear a slow or a fast track. The direct
# "slow"/"fast" tags are the strongest; the rest describe styles that are slow or fast.
SLOW_EVIDENCE = frozenset({"slow", "quiet", "soft", "ambient", "new age", "chillout", "chill", "mellow",
                           "easy listening"})
FAST_EVIDENCE = frozenset({"fast", "techno", "dance", "beat", "beats", "party", "house", "electro", "punk",
                           "metal", "heavy metal", "hard rock"})

MIN_BPM, MAX_BPM = 40.0, 220.0  # candidates outside this are not tempos a listener taps
TAG_LEAN_MIN = 0.25  # the tagger "hears" slow/fast when that side's strongest tag reaches this…
TAG_LEAN_RATIO = 2.0  # …and is at least this many times the other side's
WEAK_BEAT_RATIO = 0.55  # every other beat this much weaker than its neighbours = a subdivision
MAX_ONSETS_PER_BEAT = 4.0  # denser than this at the halved tempo: the track is busy, not slow
SPARSE_ONSETS_PER_BEAT = 0.5  # fewer onsets than one per two beats: the pulse is counted too fast
MIN_ONSETS_PER_BEAT_TO_DOUBLE = 1.0  # doubling needs an onset on (nearly) every current beat


@dataclass(frozen=True)
class TempoDecision:
    """The reconciled tempo, its feel word, and why (kept as the track's provenance)."""

    tempo_bpm: float | None
    feel: str | None  # "slow" | "moderate" | "fast", None when the tempo is unknown
    factor: float  # tempo_bpm / raw: 0.5, 1 or 2
    reason: str
    evidence: dict = field(default_factory=dict)

    def basis(self) -> dict:
        """JSON-able provenance: the rule version, the factor, the reason and the evidence."""
        return {"version": RHYTHM_VERSION, "factor": self.factor, "reason": self.reason, **self.evidence}


def tempo_feel(bpm: float | None) -> str | None:
    """"slow" (< 90) | "moderate" (90–120) | "fast" (≥ 120) for a tempo in bpm; None when unknown."""
    if bpm is None:
        return None
    if bpm < SLOW_BELOW_BPM:
        return "slow"
    if bpm < FAST_FROM_BPM:
        return "moderate"
    return "fast"


def tag_lean(tags: dict[str, dict[str, float]] | None) -> tuple[str | None, float, float]:
    """(lean, slow, fast): the strongest slow-side and fast-side tag probabilities across
    vocabularies, and "slow"/"fast" when one side clearly wins, else None."""
    slow = fast = 0.0
    for vocab in (tags or {}).values():
        for tag, p in vocab.items():
            key = tag.lower().strip()
            if key in SLOW_EVIDENCE:
                slow = max(slow, float(p))
            if key in FAST_EVIDENCE:
                fast = max(fast, float(p))
    lean = None
    if slow >= TAG_LEAN_MIN and slow >= TAG_LEAN_RATIO * fast:
        lean = "slow"
    elif fast >= TAG_LEAN_MIN and fast >= TAG_LEAN_RATIO * slow:
        lean = "fast"
    return lean, round(slow, 3), round(fast, 3)


def reconcile_tempo(raw_bpm: float | None, tags: dict[str, dict[str, float]] | None,
                    onset_rate: float | None, weak_beat_ratio: float | None = None) -> TempoDecision:
    """Choose one tempo among raw/2, raw, raw×2 and its feel word.

    raw_bpm: the beat tracker's estimate (None: no pulse found). tags: tagger outputs
    {"mtt": {tag: p}, "msd": {...}}. onset_rate: onsets per second in the same excerpt.
    weak_beat_ratio: onset strength of the weaker half of the tracked beats over the
    stronger half (1 = all beats alike), None when not measured. The first rule that
    applies wins:

    1. raw is in the fast band and every other beat is much weaker (< 0.55): the tracker
       counted subdivisions, halve (the tagger's style tags, e.g. "techno" for a 70 bpm
       drum loop, do not overrule the beat);
    2. the tagger hears "slow" but raw is in the fast band, and the halved tempo does not
       leave more than 4 onsets per beat: halve;
    3. raw is in the fast band with fewer onsets than one per two beats: halve;
    4. the tagger hears "fast" but raw is in the slow band, and there is about an onset on
       every raw beat to carry the doubled pulse: double;
    5. otherwise keep raw.
    Candidates outside 40–220 bpm are never chosen.
    """
    lean, slow, fast = tag_lean(tags)
    evidence = {"raw_bpm": raw_bpm, "onset_rate": onset_rate, "weak_beat_ratio": weak_beat_ratio,
                "tag_slow": slow, "tag_fast": fast, "tag_lean": lean}
    if raw_bpm is None or raw_bpm <= 0:
        return TempoDecision(None, None, 1.0, "no steady pulse found", evidence)

    def per_beat(bpm: float) -> float | None:
        return None if onset_rate is None else onset_rate * 60.0 / bpm

    half, double = raw_bpm / 2, raw_bpm * 2
    band = tempo_feel(raw_bpm)
    factor, reason = 1.0, "the beat tracker's tempo agrees with the other evidence"
    # Double-time errors read fast: a reading already moderate or slow is not halved for weak
    # beats (that would give tempos under 60 that music rarely has).
    if band == "fast" and weak_beat_ratio is not None and weak_beat_ratio < WEAK_BEAT_RATIO:
        factor, reason = 0.5, f"every other beat is weak ({weak_beat_ratio:.2f}): those are subdivisions"
    elif lean == "slow" and band == "fast" and half >= MIN_BPM and (
            per_beat(half) is None or per_beat(half) <= MAX_ONSETS_PER_BEAT):
        factor, reason = 0.5, f"the tagger hears a slow track (slow {slow:.2f} vs fast {fast:.2f})"
    elif band == "fast" and half >= MIN_BPM and per_beat(raw_bpm) is not None \
            and per_beat(raw_bpm) < SPARSE_ONSETS_PER_BEAT:
        factor, reason = 0.5, f"too few onsets ({onset_rate:.2f}/s) for {raw_bpm:.0f} bpm"
    elif lean == "fast" and band == "slow" and double <= MAX_BPM and (
            per_beat(raw_bpm) is not None and per_beat(raw_bpm) >= MIN_ONSETS_PER_BEAT_TO_DOUBLE):
        factor, reason = 2.0, f"the tagger hears a fast track (fast {fast:.2f} vs slow {slow:.2f})"
    tempo = raw_bpm * factor
    if not MIN_BPM <= tempo <= MAX_BPM:  # raw itself out of range: fold it in by octaves
        while tempo > MAX_BPM:
            tempo, factor = tempo / 2, factor / 2
        while tempo < MIN_BPM:
            tempo, factor = tempo * 2, factor * 2
        reason = f"{raw_bpm:.0f} bpm is outside {MIN_BPM:.0f}–{MAX_BPM:.0f}: folded by octaves"
    tempo = round(tempo, 1)
    return TempoDecision(tempo, tempo_feel(tempo), factor, reason, evidence)
