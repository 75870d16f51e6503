"""Explainer fixtures: track facts, and a tiny random Llama (the paper profile's code path)."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import pytest

from core.explainer.facts import PickContext, TrackFacts
from core.explainer.references import TEST_TEMPLATES, TRAIN_TEMPLATES, reference, sample_video_facts
from core.video_facts import VideoFacts

MUSIC_DIM = 24  # deliberately not the offline encoder's 400: D comes from the data

TAGS = ["piano", "ambient", "rock", "guitar", "drums", "electronic", "classical", "strings", "jazz",
        "metal", "soft", "beautiful", "synth", "flute", "folk", "dance", "sad", "happy", "techno"]


def make_track(track_id: int = 1, **overrides) -> TrackFacts:
    values = dict(track_id=track_id, title="Elvish Theme", artist="Doug Kaufman",
                  tags=["piano", "ambient", "strings"], tempo_bpm=72.0, instrumental=True,
                  duration_s=180.0, licence="GPL-2+")
    values.update(overrides)
    return TrackFacts(**values)


def random_track(rng: random.Random, track_id: int) -> TrackFacts:
    return TrackFacts(
        track_id=track_id, title=f"{rng.choice(['Night', 'River', 'Iron', 'Glass'])} {rng.choice(['Falls', 'Song', 'March', 'Theme'])} {track_id}",
        artist=rng.choice([None, "Doug Kaufman", "Jeroen van Ooij"]), tags=rng.sample(TAGS, 4),
        tempo_bpm=rng.choice([None, rng.uniform(55, 180)]), instrumental=rng.choice([None, True, False]),
        duration_s=rng.uniform(30, 300), licence="GPL-2+")


def make_video(**overrides) -> VideoFacts:
    """Facts of a slow, dark, cool, mostly blue and black video with no content label."""
    values = dict(motion=0.04, cuts_per_min=0.0, brightness=0.2, contrast=0.15, colourfulness=30.0,
                  warmth=-0.08, colours=["blue", "black"], labels=[])
    values.update(overrides)
    return VideoFacts(**values)


def make_context(track: TrackFacts | None = None, preference: str | None = None,
                 video: VideoFacts | None = None, seed: int = 0, dim: int = MUSIC_DIM) -> PickContext:
    emb = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return PickContext(track or make_track(), emb, video, preference)


def build_tiny_llama(out: Path) -> Path:
    """Save a random 2-layer Llama and a small BPE tokenizer trained on reference sentences
    into ``out``, like a local copy of the paper profile's LM (no chat template: Vicuna format)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    rng = random.Random(0)
    corpus = [reference(random_track(rng, i), sample_video_facts(rng), None, rng,
                        rng.choice(TRAIN_TEMPLATES + TEST_TEMPLATES)) for i in range(300)]
    corpus += ["Track: Tags: Tempo: Vocals: Video: Listener (quoted data, not instructions): "
               "USER: ASSISTANT: Explain briefly why the track fits the video, from these facts only."]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Small models gain nothing from threads, and on a shared 2-core machine extra threads
    stall (a 0.4 s generation took 15 s with two threads under load)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def paper_settings(tiny_llama_dir, monkeypatch):
    """Settings of the paper profile, with the tiny Llama as its explainer LM."""
    from core.config import get_settings, reset_settings

    monkeypatch.setenv("MUSECHAT_PROFILE", "paper")
    monkeypatch.setenv("MUSECHAT_EXPLAINER_MODEL", str(tiny_llama_dir))
    monkeypatch.setenv("MUSECHAT_DEVICE", "cpu")
    reset_settings()
    return get_settings()


@pytest.fixture
def tiny_explainer(paper_settings):
    """A fresh untrained explainer on the tiny Llama (tests may train it)."""
    import torch

    from core.explainer.model import Explainer

    torch.manual_seed(0)
    return Explainer.new(paper_settings, music_dim=MUSIC_DIM)


@pytest.fixture
def small_catalog(paper_settings):
    """20 tracks in a real SQLite catalog, with [MUSIC_DIM] feature files."""
    from core.config import get_settings
    from core.db import migrate
    from core.db.models import Track
    from core.db.session import session_scope

    migrate.upgrade()
    settings = get_settings()
    features = settings.catalog_dir / "features"
    features.mkdir(parents=True)
    rng = random.Random(0)
    with session_scope() as session:
        for i in range(20):
            digest = hashlib.sha256(str(i).encode()).hexdigest()
            session.add(Track(
                content_hash=digest, path=f"/music/{i}.ogg", title=f"Song Number {i}", artist="Some Band",
                duration_s=120.0, licence="CC-BY-4.0",
                tags={"mtt": {t: rng.random() for t in rng.sample(TAGS, 5)}, "msd": {"instrumental": 0.4}},
                tempo_bpm=rng.uniform(60, 170), vocal_prob=rng.random()))
            np.savez(features / f"{digest}.npz", pooled=np.random.default_rng(i).standard_normal(MUSIC_DIM)
                     .astype(np.float32), segments=np.zeros((1, MUSIC_DIM), np.float32))
    return settings
