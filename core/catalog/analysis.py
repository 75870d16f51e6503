"""Facts about a track derived from its audio and tags: tempo and vocals."""

from __future__ import annotations

import numpy as np

# musicnn tag vocabularies: evidence for and against a singing voice.
_MTT_VOCAL = ("vocal", "vocals", "singing", "female", "male", "woman", "man", "male vocal",
              "female vocal", "voice", "male voice", "female voice", "choir", "choral", "opera")
_MTT_NO_VOCAL = ("no vocals", "no vocal", "no voice")
_MSD_VOCAL = ("female vocalists", "male vocalists")
_MSD_NO_VOCAL = ("instrumental",)


def estimate_tempo(audio: np.ndarray, sr: int, max_seconds: float = 30.0) -> float | None:
    """Beats per minute from the middle of the track (intros are often beatless).

    audio: [N] float32 mono. hop_length=128 because the default hop (512) biases
    the estimate (a 120 bpm click reads as 117.5). Returns None for silence.
    """
    import librosa

    n = int(max_seconds * sr)
    if len(audio) > n:
        start = (len(audio) - n) // 2
        audio = audio[start : start + n]
    if len(audio) < sr * 2 or float(np.abs(audio).max(initial=0.0)) < 1e-4:
        return None
    onsets = librosa.onset.onset_strength(y=audio, sr=sr, hop_length=128)
    if float(onsets.max(initial=0.0)) <= 0:
        return None
    bpm = float(librosa.feature.tempo(onset_envelope=onsets, sr=sr, hop_length=128)[0])
    return round(bpm, 1) if bpm > 0 else None


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


def top_tags(tags: dict[str, dict[str, float]], k: int = 6, min_prob: float = 0.1) -> list[str]:
    """The k most confident tags across vocabularies (deduplicated, lower-case)."""
    merged: dict[str, float] = {}
    for vocab in tags.values():
        for tag, p in vocab.items():
            key = tag.lower()
            merged[key] = max(merged.get(key, 0.0), p)
    ranked = sorted(merged.items(), key=lambda kv: -kv[1])
    return [t for t, p in ranked if p >= min_prob][:k]
