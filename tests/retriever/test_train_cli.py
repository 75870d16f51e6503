"""`musechat train retriever` and `musechat train reranker` end to end, on a catalog the test writes.

Tiny settings (one epoch, a few conversations per track): this proves the commands run on a
fresh data directory and write a checkpoint the rest of the project can use, not how well
the model ranks (the shipped checkpoint's manifest and the README report that).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conversation.sample_media import write_catalog

pytestmark = pytest.mark.slow

TINY = {"epochs": 1, "batch_size": 8, "rerank_epochs": 1, "rerank_hidden": 16, "seed": 0}


def musechat(data: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MUSECHAT_TORCH_THREADS": "1", "MUSECHAT_DATA_DIR": str(data)}
    return subprocess.run([sys.executable, "-c", "from core.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=900, env=env)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("train")
    data = root / "data"
    ok(musechat(data, "catalog", "add", str(write_catalog(root / "music")), "--source", "test-tones"))
    ok(musechat(data, "data", "synth", "--per-track", "6"))
    config = root / "tiny.json"
    config.write_text(json.dumps(TINY))
    ckpt = root / "ckpt"
    ok(musechat(data, "train", "retriever", "--config", str(config), "--out", str(ckpt)))
    return {"root": root, "data": data, "config": config, "ckpt": ckpt}


def test_train_retriever_writes_a_checkpoint_with_its_manifest(trained):
    ckpt = trained["ckpt"]
    for name in ("model.safetensors", "config.json", "vocab.json", "manifest.json",
                 "reranker.safetensors", "reranker.json"):
        assert (ckpt / name).is_file(), name
    manifest = json.loads((ckpt / "manifest.json").read_text())
    assert manifest["profile"] == "offline"
    assert manifest["train_config"]["epochs"] == 1
    test = manifest["metrics"]["test"]
    assert test["pool_size"] == 10
    assert 0.0 <= test["turn2"]["R@10"] <= 1.0 and test["turn2"]["MedR"] >= 1
    assert "reranker" in manifest and "retriever_weight_on_val" in manifest["reranker"]
    assert manifest["data"]["conversations"] == "DATA_DIR/datasets/conversations"  # no machine's folders


def test_train_reranker_replaces_only_the_reranker(trained):
    ckpt = trained["ckpt"]
    weights = (ckpt / "model.safetensors").read_bytes()
    before = (ckpt / "reranker.safetensors").read_bytes()
    config = trained["root"] / "tiny2.json"
    config.write_text(json.dumps({**TINY, "seed": 3}))
    ok(musechat(trained["data"], "train", "reranker", "--config", str(config), "--checkpoint", str(ckpt)))
    assert (ckpt / "model.safetensors").read_bytes() == weights  # the search index stays valid
    assert (ckpt / "reranker.safetensors").read_bytes() != before
    manifest = json.loads((ckpt / "manifest.json").read_text())
    assert manifest["reranker"]["train_config"]["seed"] == 3
    assert manifest["reranker"]["data"]["conversations"] == "DATA_DIR/datasets/conversations"
    assert "test_without_reranker" in manifest["metrics"]


def test_a_reranker_from_another_version_is_a_clear_error(trained, tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    for f in trained["ckpt"].iterdir():
        (ckpt / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((ckpt / "reranker.json").read_text())
    cfg["config"]["hidden"] = 32  # weights trained with 16
    (ckpt / "reranker.json").write_text(json.dumps(cfg))
    pairs = trained["data"] / "datasets" / "conversations" / "test_pairs.jsonl"
    proc = musechat(trained["data"], "eval", "retrieval", "--pairs", str(pairs), "--checkpoint", str(ckpt), "--json")
    assert proc.returncode != 0
    assert "musechat train reranker --checkpoint" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    # ... and the command it names mends the checkpoint.
    ok(musechat(trained["data"], "train", "reranker", "--config", str(trained["config"]), "--checkpoint", str(ckpt)))
    ok(musechat(trained["data"], "eval", "retrieval", "--pairs", str(pairs), "--checkpoint", str(ckpt), "--json"))
