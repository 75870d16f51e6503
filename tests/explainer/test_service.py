"""The worker-facing explainer: track ids in, one checked explanation per pick out."""

from __future__ import annotations

from dataclasses import dataclass

from core.explainer.data import load_catalog, top_tags
from core.explainer.service import PickExplainer
from core.video_facts import ContentLabel, VideoFacts
from tests.explainer.conftest import make_video


@dataclass
class Video:
    labels: list[str]
    facts: VideoFacts | None


@dataclass
class Pick:
    track_id: int


def test_explain_picks_reads_facts_and_features_from_the_catalog(small_catalog, tiny_explainer):
    service = PickExplainer(tiny_explainer, small_catalog)
    facts = make_video(labels=[ContentLabel("buildings", 0.8)])
    out = service.explain_picks(Video(["seashore", "castle", "alp", "tiger"], facts), [Pick(3), Pick(999), Pick(1)],
                                "calmer please")
    assert len(out) == 3
    assert out[1].fallback and out[1].failed_checks == ("no_facts",)  # unknown track: no failure
    assert "Song Number 2" in out[0].text  # id 3 (ids start at 1); a random model falls back to facts
    assert "Song Number 19" in tiny_explainer.known_titles  # every catalog title is guarded
    ctx = service.contexts([3], facts, None)[0]
    assert ctx.video is facts and ctx.music_embedding.dtype.name == "float32"
    # Classifier labels never reach the prompt: only the measured facts do.
    prompt = tiny_explainer.prompt_text(ctx)
    assert "seashore" not in prompt and "Video: slow-moving, dark, cool tones, mostly blue and black, buildings" in prompt


def test_analysis_without_facts_says_nothing_about_the_video(small_catalog, tiny_explainer):
    service = PickExplainer(tiny_explainer, small_catalog)
    (expl,) = service.explain_picks(Video(["seashore"], None), [Pick(2)], None)
    ctx = service.contexts([2], None, None)[0]
    assert "Video:" not in tiny_explainer.prompt_text(ctx)
    assert expl.fallback and "(" not in expl.text.split("—")[-1]  # the fallback names no video fact


def test_catalog_tags_are_ranked_merged_and_era_free(small_catalog):
    tags = {"mtt": {"piano": 0.4, "slow": 0.05, "rock": 0.2}, "msd": {"Piano": 0.6, "80s": 0.9, "jazz": 0.3}}
    assert top_tags(tags) == ["piano", "jazz", "rock"]
    tracks = load_catalog(small_catalog)
    assert len(tracks) == 20 and all(t.embedding.shape == (24,) for t in tracks)
