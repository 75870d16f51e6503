"""bench/explanations.py: its clips really differ in the facts users' videos differ in, the
page shows every explanation beside the facts it was written from, and the runner skips it
without a catalog."""

from __future__ import annotations

import pytest

from bench import run
from bench.explanations import PICKS, Clip, Shown, Turn, make_clips, markdown, summary
from core.media import decode_video
from core.video_facts import BURST_FRAMES, BURST_STEP_S, measure


@pytest.fixture(scope="module")
def clip_facts(tmp_path_factory):
    clips = make_clips(tmp_path_factory.mktemp("clips"))
    facts = {}
    for clip in clips:
        video = decode_video(clip.path, num_frames=12, burst=BURST_FRAMES, burst_step_s=BURST_STEP_S)
        facts[clip.name] = measure(video.frames, video.timestamps, [])
    return clips, facts


def test_ten_clips_two_of_them_package_samples_four_with_feedback(clip_facts):
    clips, _ = clip_facts
    assert len(clips) == 10 and len({c.name for c in clips}) == 10
    assert {"bigbuckbunny", "bikes"} <= {c.name for c in clips}
    assert sum(c.feedback is not None for c in clips) == 4
    assert all(c.path.stat().st_size > 1000 for c in clips)


def test_made_clips_have_the_character_they_are_named_for(clip_facts):
    _, f = clip_facts
    assert f["fast-cuts"].pace == "fast" and f["slow-pan"].pace in ("slow", "still")
    assert f["dark-scene"].light == "dark" and f["snowfall"].light == "bright"
    assert f["bright-colourful"].colour_word == "colourful" and f["still-grey"].colour_word == "muted"
    assert f["warm-sunset"].tone == "warm" and f["underwater"].tone == "cool"
    assert f["still-grey"].pace == "still"
    assert "white" in f["snowfall"].colours and "blue" in f["underwater"].colours
    assert f["fast-cuts"].motion > 10 * f["slow-pan"].motion


def _turn(n: int, feedback: str | None = None) -> Turn:
    clip = Clip(f"clip-{n}", "A test clip.", None, feedback)
    video = {"statements": ["fast-paced", "dark"], "motion": 0.4, "cuts_per_min": 20.0, "brightness": 0.1,
             "contrast": 0.2, "colourfulness": 30.0, "warmth": 0.0, "labels": []}
    picks = [Shown(rank=r, title=f"Song {n}.{r}", artist="Kai Engel" if r % 2 else None, match_percent=80 - r,
                   explanation=f"Explanation {n}.{r}: steady drums for a fast-paced, dark clip.",
                   fallback=(n, r) == (2, 3), failed_checks=["unsupported_claim"] if (n, r) == (2, 3) else [],
                   track={"tags": ["drums", "rock"], "tempo_bpm": 128.0, "instrumental": True, "duration_s": 185.0},
                   prompt_facts=f"Music: ⟦music⟧\nTrack: “Song {n}.{r}”\nTempo: fast, 128 BPM")
             for r in range(1, PICKS + 1)]
    return Turn(clip, 1 if feedback else 0, feedback, feedback, "Song 0.1" if feedback else None, video, picks,
                seconds=4.0)


def test_page_shows_each_explanation_beside_its_facts():
    turns = [_turn(n, "calmer, no vocals" if n == 4 else None) for n in range(1, 11)]
    page = markdown(turns, {"date": "2026-12-07 23:00 UTC", "commit": "abc1234", "profile": "offline",
                            "tracks": 307})
    assert page.count("\n> Explanation ") == 30
    for n in range(1, 11):
        for r in range(1, PICKS + 1):
            block = page[page.index(f"> Explanation {n}.{r}:"):]
            block = block[: block.index("</details>")]
            assert "tags drums, rock; 128 BPM; instrumental; 3:05" in block
            assert f"Track: “Song {n}.{r}”" in block  # the prompt's facts, for this pick
    assert "*(fallback: unsupported_claim)*" in page and "1 of them are the fallback" in page
    assert "- stated: fast-paced, dark" in page and "brightness 0.1" in page
    assert "the feedback: “calmer, no vocals”" in page and "turn 2, after the pick “Song 0.1”" in page
    assert summary(turns)["explanations"] == 30 and summary(turns)["fallbacks"] == 1


def test_a_turn_without_picks_says_what_the_user_was_told():
    empty = _turn(1, "faster, no vocals")
    empty.picks, empty.notes = [], ["No track in the catalog matches what you asked for."]
    page = markdown([empty], {"date": "d", "commit": "c", "profile": "offline", "tracks": 1})
    assert "- told the user: No track in the catalog matches" in page and "**no picks**" in page
    assert "request as the explainer got it" not in page


def test_runner_skips_it_without_a_catalog(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSECHAT_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("MUSECHAT_DATABASE_URL", raising=False)
    report = run.run_suite(quick=False, only=["explanations"], out=tmp_path, say=lambda _m: None)
    assert [b["status"] for b in report["benchmarks"]] == ["skipped"]
    assert all("no catalog" in r["note"] for r in report["rows"])
