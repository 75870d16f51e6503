"""Facts about a track derived from its audio and tags: rhythm, vocals, the tags to show."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.catalog.tempo import TEMPO_TAGS

# musicnn tag vocabularies: evidence for and against a singing voice.
_MTT_VOCAL = ("vocal", "vocals", "singing", "female", "male", "woman", "man", "male vocal",
              "female vocal", "voice", "male voice", "female voice", "choir", "choral", "opera")
_MTT_NO_VOCAL = ("no vocals", "no vocal", "no voice")
_MSD_VOCAL = ("female vocalists", "male vocalists")
_MSD_NO_VOCAL = ("instrumental",)


@dataclass(frozen=True)
class Rhythm:
    """What the audio says about the pulse, before reconciliation with the tagger."""

    tempo_bpm: float | None  # the beat tracker's estimate; None for silence / no pulse
    onset_rate: float | None  # onsets per second
    weak_beat_ratio: float | None  # weaker half of the tracked beats / stronger half (1 = alike)


def measure_rhythm(audio: np.ndarray, sr: int, max_seconds: float = 30.0) -> Rhythm:
    """Tempo, onset rate and beat alternation from the middle of the track (intros are often beatless).

    audio: [N] float32 mono at ``sr`` Hz. hop_length=128 because the default hop (512)
    biases the estimate (a 120 bpm click reads as 117.5). Onsets are peaks of the onset
    envelope that rise 0.1 (of its maximum) above its median, at least 50 ms apart.
    """
    import librosa
    from scipy.signal import find_peaks

    n = int(max_seconds * sr)
    if len(audio) > n:
        start = (len(audio) - n) // 2
        audio = audio[start : start + n]
    if len(audio) < sr * 2 or float(np.abs(audio).max(initial=0.0)) < 1e-4:
        return Rhythm(None, None, None)
    hop = 128
    env = librosa.onset.onset_strength(y=audio, sr=sr, hop_length=hop)
    if float(env.max(initial=0.0)) <= 0:
        return Rhythm(None, 0.0, None)
    norm = env / env.max()
    peaks, _ = find_peaks(norm, height=float(np.median(norm)) + 0.1, distance=max(1, int(0.05 * sr / hop)))
    onset_rate = round(len(peaks) / (len(audio) / sr), 3)
    bpm = float(librosa.feature.tempo(onset_envelope=env, sr=sr, hop_length=hop)[0])
    if bpm <= 0:
        return Rhythm(None, onset_rate, None)
    _, beats = librosa.beat.beat_track(onset_envelope=env, sr=sr, hop_length=hop, bpm=bpm)
    weak = None
    if len(beats) >= 8:
        # strongest envelope value within ±3 frames (±24 ms at 16 kHz) of each beat
        strength = np.array([env[max(0, b - 3): b + 4].max() for b in beats])
        a, b = float(np.median(strength[0::2])), float(np.median(strength[1::2]))
        weak = round(min(a, b) / max(a, b), 3) if max(a, b) > 0 else None
    return Rhythm(round(bpm, 1), onset_rate, weak)


def estimate_vocal_probability(tags: dict[str, dict[str, float]]) -> float | None:
    """P(the track has vocals) from tagger outputs; < 0.5 means instrumental.

    Compares the strongest "voice" tag with the strongest "no voice" tag in each
    vocabulary that is present (musicnn MTT/MSD; AudioSet's "Singing"/"Speech" for AST).
    """
    vocal, no_vocal = [], []
    if "mtt" in tags:
        vocal.append(max(tags["mtt"].get(t, 0.0) for t in _MTT_VOCAL))
        no_vocal.append(max(tags["mtt"].get(t, 0.0) for t in _MTT_NO_VOCAL))
    if "msd" in tags:
        vocal.append(max(tags["msd"].get(t, 0.0) for t in _MSD_VOCAL))
        no_vocal.append(max(tags["msd"].get(t, 0.0) for t in _MSD_NO_VOCAL))
    if "audioset" in tags:
        a = tags["audioset"]
        vocal.append(max(a.get("Singing", 0.0), a.get("Vocal music", 0.0), a.get("Choir", 0.0)))
        no_vocal.append(a.get("Instrumental music", 0.0) if "Instrumental music" in a else 0.0)
    if not vocal:
        return None
    v, n = float(np.mean(vocal)), float(np.mean(no_vocal))
    return round(v / (v + n), 3) if v + n > 0 else 0.5


def top_tags(tags: dict[str, dict[str, float]], k: int = 6, min_prob: float = 0.1,
             feel: str | None = None) -> list[str]:
    """The k most confident tags across vocabularies (deduplicated, lower-case), for display.

    The tagger's own tempo tags ("slow", "fast") are never shown: they can contradict the
    reconciled tempo. The track's feel word (``Track.tempo_feel``), when known, comes first.
    """
    merged: dict[str, float] = {}
    for vocab in tags.values():
        for tag, p in vocab.items():
            key = tag.lower()
            if key not in TEMPO_TAGS:
                merged[key] = max(merged.get(key, 0.0), p)
    ranked = sorted(merged.items(), key=lambda kv: -kv[1])
    shown = [t for t, p in ranked if p >= min_prob and t != feel]
    return ([feel] if feel else []) + shown[: k - 1 if feel else k]


def track_tags(track) -> list[str]:
    """The tags every front end shows for a ``Track``: its feel word, then its top tags."""
    return top_tags(track.tags or {}, feel=track.tempo_feel)
