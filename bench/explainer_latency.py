"""Explanation latency for one turn's 3 picks with the offline profile, and worker memory.

    .venv/bin/python bench/explainer_latency.py [--threads 2] [--runs 5] [--compare-threads 1 2]
                                                [--checkpoint DIR] [--int8] [--quick] [--json]

Loads the explainer once (as a worker does), warms up, then times ``Explainer.generate`` on
3 picks in one batched call, two ways in the same process, alternating run by run: the
explainer's decoder (``fastdecode.FastDecoder``: shared system prompt prefilled once,
batch padded to 4 rows on CPU) and, as the baseline, ``transformers``' ``generate()`` on
the same merged LM (the path before the fast decoder). Both must write the same
explanations; the run stops if they do not. Picks come from the configured catalog when it has tracks,
else from made-up facts with a random music embedding. Prints wall time per turn (median,
min, max) for each path and each thread count, new tokens per pick, and the process's
resident memory (now and peak).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit_json, rss_mib  # noqa: E402


def picks(settings, music_dim: int):
    import numpy as np

    from core.explainer.facts import PickContext, TrackFacts
    from core.video_facts import VideoFacts

    try:
        from core.explainer.data import load_catalog

        tracks = load_catalog(settings)
    except Exception:  # no database yet: the benchmark still measures the model
        tracks = []
    # Three videos as the analysis measures them: a slow bright pan, fast dark cuts, none.
    videos = [VideoFacts(motion=0.03, cuts_per_min=0.0, brightness=0.75, contrast=0.2, colourfulness=60.0,
                         warmth=0.2, colours=["blue", "white"]),
              VideoFacts(motion=0.5, cuts_per_min=40.0, brightness=0.15, contrast=0.3, colourfulness=20.0,
                         warmth=-0.2, colours=["black", "grey"]),
              None]
    prefs = [None, "more upbeat, no vocals", "something calmer with piano"]
    if len(tracks) >= 3:
        chosen = [tracks[i * len(tracks) // 3] for i in range(3)]
        return [PickContext(t.facts, t.embedding, v, p) for t, v, p in zip(chosen, videos, prefs)]
    rng = np.random.default_rng(0)
    facts = [TrackFacts(1, "Elvish Theme", "Doug Kaufman", ["strings", "classical", "violin"], 72.0, True, 205.0, "GPL-2+"),
             TrackFacts(2, "Frantic", "Stephen Rozanc", ["drums", "electronic", "rock"], 138.0, True, 163.0, "GPL-2+"),
             TrackFacts(3, "Elf Land", "Aleksi Aubry-Carlson", ["choir", "ambient"], 96.0, False, 27.0, "GPL-2+")]
    return [PickContext(f, rng.standard_normal(music_dim).astype(np.float32), v, p)
            for f, v, p in zip(facts, videos, prefs)]


def _timed(explainer, contexts, decoder, runs_into: list[float], cpu_into: list[float]) -> list[str]:
    explainer.decoder = decoder
    t0, c0 = time.perf_counter(), time.process_time()
    texts = explainer.generate(contexts)
    runs_into.append(time.perf_counter() - t0)
    cpu_into.append(time.process_time() - c0)
    return texts


def _stats(times: list[float]) -> dict:
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
            "max_s": round(max(times), 3)}


def measure(threads: int = 2, runs: int = 5, checkpoint: Path | None = None, int8: bool = False,
            compare_threads: tuple[int, ...] = ()) -> dict:
    """Median seconds for one turn's 3 picks (one batched call, after a warm-up call) with the
    explainer's decoder and with ``generate()`` (``baseline_*``), alternating; CPU seconds per
    call, new tokens per pick, and this process's memory in MiB. ``compare_threads``: also
    both paths at each of these torch thread counts (``by_threads``)."""
    import torch

    torch.set_num_threads(threads)
    from core.config import get_settings
    from core.explainer.model import Explainer

    settings = get_settings()
    base_rss, _ = rss_mib()
    t0 = time.perf_counter()
    explainer = Explainer.load(settings, checkpoint, int8=int8)
    load_s = time.perf_counter() - t0
    loaded_rss, _ = rss_mib()
    contexts = picks(settings, explainer.projection.music_dim)
    titles = {c.track.title for c in contexts}
    decoder = explainer.decoder  # None with --int8 (quantised layers): then both paths are generate()

    def both(n_threads: int) -> dict:
        torch.set_num_threads(n_threads)
        new, old, new_cpu, old_cpu = [], [], [], []
        # warm-up: first calls allocate caches
        expected = _timed(explainer, contexts, None, [], [])
        if _timed(explainer, contexts, decoder, [], []) != expected:
            raise SystemExit("the fast decoder wrote other explanations than generate(): not timing it")
        for _ in range(runs):
            texts = _timed(explainer, contexts, decoder, new, new_cpu)
            _timed(explainer, contexts, None, old, old_cpu)
        explainer.decoder = decoder
        return {"threads": n_threads, **_stats(new), "cpu_median_s": round(statistics.median(new_cpu), 3),
                **{f"baseline_{k}": v for k, v in _stats(old).items()},
                "baseline_cpu_median_s": round(statistics.median(old_cpu), 3),
                "speedup": round(statistics.median(old) / statistics.median(new), 2), "texts": texts}

    main_run = both(threads)
    by_threads = [main_run if n == threads else both(n) for n in compare_threads]
    torch.set_num_threads(threads)
    texts = main_run.pop("texts")
    for r in by_threads:
        r.pop("texts", None)
    tokens = [len(explainer.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    shown = explainer.explain(contexts, known_titles=titles)
    rss, peak = rss_mib()
    return {"device": str(explainer.device), "torch_threads": threads, "base": explainer.base_name,
            "int8": int8, "decoder": type(decoder).__name__ if decoder is not None else "generate", "runs": runs,
            "load_s": round(load_s, 2), **main_run, "by_threads": by_threads,
            "max_new_tokens_per_pick": max(tokens), "mean_new_tokens_per_pick": round(statistics.mean(tokens), 1),
            "token_bound": explainer.max_new_tokens,
            "rss_before_load_mib": base_rss, "rss_after_load_mib": loaded_rss, "rss_mib": rss, "peak_rss_mib": peak,
            "fallbacks": sum(e.fallback for e in shown),
            "examples": [{"title": c.track.title, "text": e.text, "fallback": e.fallback}
                         for c, e in zip(contexts, shown)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=None, help="timed calls per path after a warm-up "
                                                               "(default 5; --quick: 1)")
    parser.add_argument("--compare-threads", type=int, nargs="+", default=(), metavar="N",
                        help="also time both paths with each of these torch thread counts")
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--int8", action="store_true", help="dynamic int8 linear layers (faster, lower quality)")
    parser.add_argument("--quick", action="store_true", help="one timed call")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    r = measure(args.threads, args.runs or (1 if args.quick else 5), args.checkpoint, args.int8,
                tuple(args.compare_threads))
    if args.json:
        emit_json(r)
        return
    print(f"device: {r['device']}, base: {r['base']}{', int8' if args.int8 else ''}, decoder: {r['decoder']}; "
          f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"load: {r['load_s']:.2f} s (explainer + converted SmolLM2)")
    print(f"3 picks, one batched call, {r['runs']} runs per path, alternating (target <= 3 s):")
    for row in r["by_threads"] or [r]:
        print(f"  {row['threads']} torch thread(s): {r['decoder']} median {row['median_s']:.2f} s "
              f"(min {row['min_s']:.2f}, max {row['max_s']:.2f}); generate() median {row['baseline_median_s']:.2f} s "
              f"(min {row['baseline_min_s']:.2f}, max {row['baseline_max_s']:.2f}); {row['speedup']:.2f}x")
    # CPU seconds spent by this process: what the call costs on cores nobody else uses
    # (with one thread, about the wall time on an idle machine).
    print(f"CPU time per call ({r['threads']} threads): median {r['cpu_median_s']:.2f} s "
          f"(generate(): {r['baseline_cpu_median_s']:.2f} s)")
    print(f"new tokens per pick: max {r['max_new_tokens_per_pick']}, mean {r['mean_new_tokens_per_pick']:.1f} "
          f"(bound {r['token_bound']})")
    print(f"memory: RSS {r['rss_mib']:.0f} MiB (before load {r['rss_before_load_mib']:.0f}, after load "
          f"{r['rss_after_load_mib']:.0f}), peak {r['peak_rss_mib']:.0f} MiB")
    print(f"fallbacks: {r['fallbacks']}/3")
    for e in r["examples"]:
        print(f"- {e['title']}: {e['text']}{'  [fallback]' if e['fallback'] else ''}")


if __name__ == "__main__":
    main()
