"""Video facts measured on footage the test makes: pace, cuts, light, colour, and their words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.engine import VideoAnalysis
from core.media import decode_video
from core.retriever.pace import fast_and_slow, synthetic_footage, write_mp4
from core.retriever.video import base_frames
from core.video_facts import (BURST_FRAMES, BURST_STEP_S, VIDEO_WORDS, ContentLabel, VideoFacts,
                              imagenet_group_labels, measure)


def _facts(path: Path) -> VideoFacts:
    v = decode_video(path, num_frames=12, burst=BURST_FRAMES, burst_step_s=BURST_STEP_S)
    return measure(v.frames, v.timestamps)


@pytest.fixture(scope="module")
def edits(tmp_path_factory) -> dict[str, VideoFacts]:
    root = tmp_path_factory.mktemp("edits")
    out = {}
    for seed in (1, 2):
        fast, slow = fast_and_slow(synthetic_footage(seed), fps=24)
        out[f"fast{seed}"] = _facts(write_mp4(fast, root / f"fast{seed}.mp4"))
        out[f"slow{seed}"] = _facts(write_mp4(slow, root / f"slow{seed}.mp4"))
    return out


def test_the_same_footage_cut_fast_reads_faster_than_in_slow_motion(edits):
    for seed in (1, 2):
        fast, slow = edits[f"fast{seed}"], edits[f"slow{seed}"]
        assert fast.motion > 4 * slow.motion, (fast, slow)
        # Words are claims: the slow edit is never called fast, the fast one never slow.
        assert fast.pace in ("moderate", "fast") and slow.pace in ("still", "slow")
        assert slow.cuts_per_min == 0.0
        assert not {"slow-moving", "nearly still"} & set(fast.statements())
        assert not {"fast-paced", "steady movement"} & set(slow.statements())


def test_cuts_are_counted_not_taken_for_motion(tmp_path):
    # Two flat shots, one black and one white, switching every 5 frames (0.42 s): no
    # motion, all cuts (~140 a minute; the bursts see a share of them).
    frames = [np.full((144, 256, 3), 255 * ((i // 5) % 2), np.uint8) for i in range(12 * 8)]
    facts = _facts(write_mp4(frames, tmp_path / "cuts.mp4"))
    assert facts.motion < 0.01
    assert facts.cuts_per_min > 20 and facts.values()["cuts"] == "frequent"


@pytest.mark.parametrize(("rgb", "light", "colour", "tone"), [
    ((12, 14, 30), "dark", "navy-ish", "cool"),
    ((250, 250, 245), "bright", "white", None),
    ((220, 90, 20), None, "orange", "warm"),
    ((80, 140, 230), None, "blue", "cool"),
])
def test_light_colour_and_tone(tmp_path, rgb, light, colour, tone):
    rng = np.random.default_rng(0)
    frames = [np.clip(np.array(rgb) + rng.normal(0, 4, (144, 256, 3)), 0, 255).astype(np.uint8) for _ in range(24)]
    facts = _facts(write_mp4(frames, tmp_path / "c.mp4"))
    assert facts.light == light
    assert facts.tone == tone
    if colour != "navy-ish":
        assert facts.colours[:1] == [colour]
    assert facts.pace == "still"


def test_every_statement_is_a_word_the_checker_knows():
    facts = VideoFacts(motion=0.4, cuts_per_min=30, brightness=0.2, contrast=0.3, colourfulness=70, warmth=0.1,
                       colours=["blue", "white"], labels=[ContentLabel("snow sports", 0.8)])
    values = facts.values()
    assert values == {"pace": "fast", "light": "dark", "colour": "colourful", "tone": "warm", "cuts": "frequent"}
    for s in facts.statements():
        if s.startswith("mostly ") or s == "snow sports":
            continue
        key, value = VIDEO_WORDS[s]
        assert values[key] == value, s


def test_group_labels_need_confidence():
    probs = np.full((4, 1000), 1e-4)
    probs[:, 817] = 0.9  # sports car, every frame
    probs /= probs.sum(1, keepdims=True)
    labels = imagenet_group_labels(probs)
    assert [x.name for x in labels] == ["road vehicles"] and labels[0].probability > 0.8
    # The same mass spread thinly over the animal classes (what noise does) is not a label.
    spread = np.full((4, 1000), 0.3 / 602)
    spread[:, :398] = 0.7 / 398
    assert imagenet_group_labels(spread) == []
    # One frame out of four is not what the video shows.
    one = np.full((4, 1000), 1 / 1000)
    one[0] = probs[0]
    assert imagenet_group_labels(one) == []


def test_analysis_keeps_its_facts(tmp_path):
    facts = VideoFacts(motion=0.1, cuts_per_min=0.0, brightness=0.5, contrast=0.2, colourfulness=30.0,
                       warmth=0.0, colours=["green"], labels=[ContentLabel("animals", 0.7, "imagenet-groups")])
    a = VideoAnalysis("h", 3.0, np.zeros((12, 8), np.float32), ["animals"], "enc", facts)
    a.save(tmp_path / "a.npz")
    b = VideoAnalysis.load(tmp_path / "a.npz")
    assert b.facts == facts and b.labels == ["animals"]


def test_base_frames_are_the_evenly_spaced_ones():
    times = [0.25, 0.375, 0.5, 0.75, 0.875, 1.0, 1.25, 1.375, 1.5, 1.75]
    assert base_frames(times, 2.0, 4) == [0, 3, 6, 9]
