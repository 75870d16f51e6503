"""The README's retrieval table: the trained model and every baseline on two pair sets.

    python bench/retrieval_report.py --hedgewars DATA/datasets/hedgewars/pairs.jsonl \
        --synthetic DATA/datasets/conversations/test_pairs.jsonl [--checkpoint DIR] [--ablations DIR]

Runs ``evaluate_pairs`` (the code behind ``musechat eval retrieval``) for each row and
prints a Markdown table plus the raw JSON (``--json-out FILE``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from core.config import get_settings
from core.retriever.pairs_eval import BASELINES, evaluate_pairs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hedgewars", type=Path, required=True)
    ap.add_argument("--synthetic", type=Path, required=True)
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--ablations", type=Path, help="folder with no_text/, no_previous/, concat_fusion/")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    settings = get_settings()
    rows = [("MuseChat retriever + re-ranker", dict(checkpoint=args.checkpoint))]
    # The same checkpoint without its re-ranker: the dual encoder alone.
    from core.retriever.checkpoint import resolve_checkpoint

    bare = Path(tempfile.mkdtemp(prefix="retriever-bare-"))
    for f in resolve_checkpoint(settings, args.checkpoint).iterdir():
        if f.is_file() and not f.name.startswith("reranker"):
            shutil.copy(f, bare / f.name)
    rows.append(("MuseChat retriever alone (no re-ranker)", dict(checkpoint=bare)))
    rows += [(f"baseline: {b}", dict(baseline=b)) for b in BASELINES]
    if args.ablations:
        for name in ("no_text", "no_previous", "concat_fusion"):
            if (args.ablations / name / "model.safetensors").exists():
                rows.append((f"ablation: {name.replace('_', ' ')}", dict(checkpoint=args.ablations / name)))
    results = {}
    for label, kw in rows:
        hw = evaluate_pairs(settings, args.hedgewars, **kw)
        syn = evaluate_pairs(settings, args.synthetic, **kw)
        results[label] = {"hedgewars": hw, "synthetic": syn}
    first = next(iter(results.values()))
    print(f"Hedgewars pairs: n={first['hedgewars']['n']}, pool={first['hedgewars']['pool_size']}; "
          f"synthetic test: n={first['synthetic']['n']}, pool={first['synthetic']['pool_size']}\n")
    print("| model | Hedgewars turn 1 R@10 | MedR | synthetic turn 1 R@10 | turn 2 R@1 | turn 2 R@10 | turn 2 MedR | SR@10 |")
    print("|---|---|---|---|---|---|---|---|")
    for label, r in results.items():
        hw, syn = r["hedgewars"], r["synthetic"]
        print(f"| {label} | {hw['turn1']['R@10']:.3f} | {hw['turn1']['MedR']:.0f} | {syn['turn1']['R@10']:.3f} | "
              f"{syn['turn2']['R@1']:.3f} | {syn['turn2']['R@10']:.3f} | {syn['turn2']['MedR']:.0f} | {syn['SR@10']:.3f} |")
    rnd = first["synthetic"]["random"]
    print(f"| random expectation | {first['hedgewars']['random']['R@10']:.3f} | – | {rnd['R@10']:.3f} | "
          f"{rnd['R@1']:.3f} | {rnd['R@10']:.3f} | – | {rnd['R@10']:.3f} |")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
