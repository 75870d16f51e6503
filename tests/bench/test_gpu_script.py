"""bench/gpu.py runs once on a GPU machine that has torch, transformers, peft and timm but
none of the application's other dependencies: it must run without them and record every stage."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "gpu.py"
BATCHES = (1, 8, 32)

# Runs the script with the application's own dependencies made unimportable.
WITHOUT_APP_DEPENDENCIES = """
import importlib.abc, runpy, sys
BLOCKED = {"pydantic", "pydantic_settings", "sqlalchemy", "alembic", "typer", "celery", "fastapi"}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (not on the GPU machine)")
        return None
sys.meta_path.insert(0, Blocker())
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"""


def expected_stages() -> list[str]:
    per_batch = lambda prefix, b: [f"{prefix}.b{x}" for x in b]  # noqa: E731
    stages = ["fastdecode.check", "paper.explainer.build", *per_batch("paper.explainer.hf_lora", (1, 8)),
              "paper.explainer.merge", *per_batch("paper.explainer.hf_merged", BATCHES),
              *per_batch("paper.explainer.fast", BATCHES), "paper.encoders.build",
              "offline.encoders.build", "offline.explainer.build"]
    for part in ("frames", "text", "ast", "retriever"):
        stages += per_batch(f"paper.{part}", BATCHES)
    for part in ("frames", "text", "music", "retriever", "explainer.hf_merged", "explainer.fast"):
        stages += per_batch(f"offline.{part}", BATCHES)
    return stages


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_run_without_app_dependencies_measures_every_stage(tmp_path):
    out = tmp_path / "gpu.json"
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    env.update(CUDA_VISIBLE_DEVICES="", MUSECHAT_TORCH_THREADS="1", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", WITHOUT_APP_DEPENDENCIES, str(SCRIPT), "--tiny", "--budget-s", "120",
                           "--out", str(out)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())
    stages = data["stages"]
    assert set(expected_stages()) <= set(stages)
    problems = {k: v.get("error") or v.get("reason") for k, v in stages.items() if v["status"] != "ok"}
    assert not problems
    for name in expected_stages():
        if re.search(r"\.b\d+$", name):
            assert stages[name]["ms"] > 0, name
    assert stages["fastdecode.check"]["equal_to_generate"] is True
    for b in BATCHES:  # fp32 on CPU: the fast decoder writes exactly generate's tokens
        agree = stages[f"paper.explainer.fast.b{b}"]["agrees_with_generate"]
        assert agree["mean_matching_prefix"] == agree["of_tokens"] == 60
        assert stages[f"paper.explainer.fast.b{b}"]["new_tokens"] == 60
    for profile in ("paper", "offline"):
        for b in BATCHES:
            assert data["turns"][profile][str(b)]["turns_per_s"] > 0
        assert set(data["capacity"][profile]) == {"60", "600", "6000"}
    assert data["device"].startswith("cpu") and data["tiny"] is True
    assert "| paper | 32 |" in proc.stdout and "GPU worker(s)" in proc.stdout


def test_frames_and_text_fall_back_to_transformers_clip_without_open_clip(tmp_path, monkeypatch):
    gpu = load_script()
    monkeypatch.setitem(sys.modules, "open_clip", None)  # import open_clip -> ImportError
    run = gpu.Run(budget_s=60, tiny=True, out=tmp_path / "gpu.json")
    gpu.paper_encoders(run)
    assert run.data["stages"]["paper.encoders.build"]["clip"] == "HFClip"
    assert all(run.data["stages"][f"paper.{p}.b{b}"]["status"] == "ok" for p in ("frames", "text") for b in BATCHES)
    assert any("open_clip unavailable" in n for n in run.data["notes"])


def test_past_the_budget_stages_are_recorded_as_skipped(tmp_path):
    gpu = load_script()
    run = gpu.Run(budget_s=0, tiny=True, out=tmp_path / "gpu.json")
    assert run.stage("paper.frames.b1", lambda: {"ms": 1.0}, batch=1) is None
    saved = json.loads((tmp_path / "gpu.json").read_text())
    assert saved["stages"]["paper.frames.b1"]["status"] == "skipped"


def test_the_script_measures_what_the_explainer_and_settings_use():
    from core.config import Settings
    from core.explainer.model import LORA_TARGETS, MAX_NEW_TOKENS, LoraSpec

    gpu = load_script()
    assert gpu.LORA_TARGETS == LORA_TARGETS and gpu.NEW_TOKENS == MAX_NEW_TOKENS
    assert (gpu.LORA_R, gpu.LORA_ALPHA) == (LoraSpec().r, LoraSpec().alpha)
    assert gpu.FRAMES == Settings.model_fields["num_frames"].default
