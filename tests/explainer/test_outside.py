"""The outside evaluation set: clips whose facts are known by construction, and feedback
written by hand that no synthesiser produces."""

from __future__ import annotations

import re

import pytest

from core.explainer import references
from core.explainer.outside import CLIPS, FIRST_TURNS, TRACKS_PER_TURN, build_turns, clip_facts, phrasings
from core.explainer.request import read_request
from tests.explainer.conftest import make_track


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("clips")
    return [(spec, clip_facts(spec, workdir)) for spec in CLIPS]


def test_each_clip_measures_as_it_was_built(measured):
    for spec, facts in measured:
        assert facts.pace == spec.pace, (spec.name, facts)
        assert facts.light == spec.light, (spec.name, facts)
        assert facts.labels == []  # no classifier ran: no object may be named
    paces = {facts.pace for _, facts in measured}
    assert paces == {"still", "slow", "moderate", "fast"}


def _norm(text: str) -> str:
    return re.sub(r"[^\w\s]", "", text.lower()).strip()


def test_feedback_is_hand_written_varied_and_never_synthesised():
    messages = phrasings()
    assert len(messages) >= 40 and len(set(messages)) == len(messages)
    synthesised = set()
    tags = {"piano", "guitar", "rock", "jazz", "electronic", "ambient", "strings", "drums", "synth", "acoustic"}
    for table in (references._PREF_TEMPO, references._PREF_VOCALS, references._PREF_TAG, references._PREF_OTHER):
        for split in table.values():
            for group in (split.values() if isinstance(split, dict) else [split]):
                for phrase in group:
                    synthesised |= {_norm(phrase.format(tag=t)) for t in tags}
    assert not {_norm(m) for m in messages} & synthesised
    non_ascii = [m for m in messages if any(ord(ch) > 127 for ch in m)]
    assert len(non_ascii) >= 3  # other languages (and emoji)
    assert sum(bool(read_request(m)) for m in messages) >= 35  # most ask for something the parser reads


def test_turns_cover_every_message_and_first_turns(measured):
    tracks = [type("T", (), {"facts": make_track(i), "embedding": None})() for i in range(5)]
    clips = [(spec.name, facts) for spec, facts in measured]
    turns = build_turns(tracks, clips, phrasings())
    assert len(turns) == (FIRST_TURNS + len(phrasings())) * TRACKS_PER_TURN
    assert {t.context.preference for t in turns} == {None, *phrasings()}
    assert {t.clip for t in turns} == {spec.name for spec in CLIPS}
