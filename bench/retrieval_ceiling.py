"""How far the words alone can take a refinement turn on a synthesised test split.

For each conversation, count the catalog tracks (other than the previous pick) that agree
with every fact the preference states about the wanted track relative to the previous
pick (the same ``facts_between`` that wrote it). Ranking at random among those gives
R@10 = min(1, 10 / count) in expectation; the mean over the split is a ceiling for a
model that reads the facts perfectly but has nothing else to order the agreeing tracks.
A second figure orders the agreeing tracks by how similar their tags are to the previous
pick's (a first pick is often a near miss): what a perfect reading of the facts plus that
one ordering would reach.
Where a preference names one fact of a kind (say "more drums") while the data holds
several of that kind, every one of them is required, so the count is slightly small and
the ceiling slightly high.

    python bench/retrieval_ceiling.py DATA/datasets/conversations/test.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data import synth  # noqa: E402


def _keys(facts) -> set:
    return {(k, v.get("x"), v.get("album"), v.get("artist")) for k, v in facts}


def ceiling(conversations: list[dict], tracks) -> dict:
    by_hash = {t.content_hash: t for t in tracks}
    row = {t.content_hash: i for i, t in enumerate(tracks)}
    tags = synth.tag_vectors(tracks)
    counts, ordered_hits = [], []
    for c in conversations:
        target, prev = by_hash.get(c["target"]), by_hash.get(c["turn1_pick"])
        if target is None or prev is None:
            continue
        said = {p.rsplit(".", 1)[0] for p in c["phrases"]}
        stated = {f for f in _keys(synth.facts_between(target, prev)) if f[0] in said}
        agree = [i for i, t in enumerate(tracks) if t.content_hash != prev.content_hash
                 and stated <= _keys(synth.facts_between(t, prev))]
        counts.append(max(len(agree), 1))
        sims = tags[agree] @ tags[row[prev.content_hash]]
        order = [agree[j] for j in np.argsort(-sims, kind="stable")]
        ordered_hits.append(row[target.content_hash] in order[:10])
    counts = np.array(counts)
    return {"conversations": len(counts), "median_agreeing_tracks": float(np.median(counts)),
            "R@10_random_among_agreeing": round(float(np.minimum(1.0, 10 / counts).mean()), 4),
            "R@10_agreeing_by_tag_similarity_to_previous": round(float(np.mean(ordered_hits)), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("conversations", type=Path, help="a split file written by `musechat data synth`")
    args = ap.parse_args()
    convs = [json.loads(line) for line in args.conversations.read_text().splitlines() if line.strip()]
    tracks = synth.load_catalog()
    print(json.dumps(ceiling(convs, tracks)))


if __name__ == "__main__":
    main()
