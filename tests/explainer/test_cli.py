"""`musechat train explainer` and `musechat eval explainer` end to end on a small real
SQLite catalog (paper profile code path, tiny Llama)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from core.cli import app
from core.db import migrate
from tests.explainer.conftest import MUSIC_DIM


def test_train_then_eval_prints_one_json_object(small_catalog, tmp_path):
    runner = CliRunner()
    ckpt = tmp_path / "ckpt"
    result = runner.invoke(app, ["train", "explainer", "--out", str(ckpt), "--max-steps", "2",
                                 "--batch-size", "4", "--per-track", "1", "--threads", "1", "--eval-limit", "4"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((ckpt / "manifest.json").read_text())
    assert manifest["profile"] == "paper" and manifest["music_dim"] == MUSIC_DIM
    assert manifest["training"]["steps"] == 2
    assert manifest["data"]["tracks"] == 20
    test_tracks = manifest["data"]["test_tracks"]
    assert test_tracks >= 1 and manifest["data"]["train_tracks"] + test_tracks == 20
    assert set(manifest["metrics"]) >= {"n", "bertscore_f1", "faithfulness", "hallucinated_titles", "fallback_rate",
                                        "supported_claim_rate", "contradictions_with_request"}
    assert "sampled video facts" in manifest["data"]["video"]

    result = runner.invoke(app, ["eval", "explainer", "--checkpoint", str(ckpt), "--json", "--limit", "4",
                                 "--threads", "1"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert metrics["n"] == min(4, 2 * test_tracks)
    assert 0.0 <= metrics["bertscore_f1"] <= 1.0
    assert 0.0 <= metrics["no_music_token"]["bertscore_f1"] <= 1.0
    assert metrics["faithfulness_after_guard"] == 1.0  # what users see never contradicts the facts
    assert isinstance(metrics["hallucinated_titles"], int)
    assert 0.0 <= metrics["fallback_rate"] <= 1.0
    # The four figures on rendered clips x hand-written feedback; what users see is backed.
    assert metrics["outside"]["explanations"] == 4 and metrics["outside"]["phrasings"] >= 40
    assert metrics["supported_claim_rate"] == 1.0 and metrics["contradictions_with_request"] == 0
    assert metrics["explanations_with_unsupported_claim"] == 0 and metrics["names_not_in_facts"] == 0
    assert set(metrics["raw"]) >= {"supported_rate", "with_unsupported", "contradictions", "unknown_names"}

    result = runner.invoke(app, ["eval", "explainer", "--checkpoint", str(ckpt), "--limit", "2", "--threads", "1",
                                 "--no-heldout"])
    assert result.exit_code == 0, result.output
    assert "supported_claim_rate" in result.stdout and "raw LM text before the guard" in result.stdout


def test_train_without_a_catalog_says_what_to_do(paper_settings, tmp_path):
    migrate.upgrade()
    result = CliRunner().invoke(app, ["train", "explainer", "--out", str(tmp_path / "x"), "--threads", "1"])
    assert result.exit_code != 0
    assert "build it first" in str(result.exception) or "build it first" in result.output
