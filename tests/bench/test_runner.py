"""The benchmark suite's runner: numbers in, a JSON report and a Markdown table out, each
number beside its target; a benchmark that cannot run is reported, not faked."""

from __future__ import annotations

import json
import subprocess
import sys

from bench import run
from core.config import REPO_ROOT


def test_quick_search_writes_json_and_table(tmp_path):
    md = tmp_path / "RESULTS.md"
    md.write_text("# old\n\n## GPU (H100)\n\ngpu numbers stay\n")
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "run.py"), "--quick", "--only", "search",
                           "--out", str(tmp_path), "--markdown", str(md)],
                          capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
                          env={**run.os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "[1/1] search" in proc.stdout

    report = json.loads((tmp_path / "latest.json").read_text())
    assert report["mode"] == "quick"
    assert report["machine"]["cores"] >= 1 and report["machine"]["cpu"]
    assert len(report["load_average_start"]) == 3 and len(report["load_average_end"]) == 3
    rows = {r["metric"]: r for r in report["rows"]}
    p50 = rows["HNSW p50 at 10k"]
    assert 0 < p50["value"] < 1000 and p50["target"] == "≤ 5 ms" and p50["met"] == (p50["value"] <= 5)
    recall = rows["HNSW recall@10 at 10k"]
    assert 0 <= recall["value"] <= 1 and recall["met"] == (recall["value"] >= 0.95)
    assert rows["HNSW p50 at 1M"]["value"] is None and rows["HNSW p50 at 1M"]["note"] == "full mode only"

    table = md.read_text()
    assert "| benchmark | measured | target | met? |" in table
    assert f"| search: HNSW p50 at 10k | {run._fmt(p50['value'])} ms | ≤ 5 ms | " in table
    assert table.rstrip().endswith("gpu numbers stay")  # the GPU section is kept
    assert "# old" not in table

    # --update: one benchmark re-run into the same report, the others kept as they were.
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "run.py"), "--quick", "--only", "slack",
                           "--update", "--out", str(tmp_path), "--markdown", str(md)],
                          capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    updated = json.loads((tmp_path / "latest.json").read_text())
    assert [b["name"] for b in updated["benchmarks"]] == ["search", "slack"]
    assert [r for r in updated["rows"] if r["benchmark"] == "search"] == report["rows"]
    ack = next(r for r in updated["rows"] if r["metric"] == "Slack ack p99")
    assert ack["value"] > 0 and ack["target"] == "≤ 3,000 ms"
    assert updated["updates"][0]["benchmarks"] == ["slack"] and "Re-run on" in md.read_text()


def test_missing_catalog_is_reported_as_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSECHAT_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("MUSECHAT_DATABASE_URL", raising=False)
    from core.config import get_settings

    get_settings.cache_clear()
    report = run.run_suite(quick=False, only=["explainer"], out=tmp_path, say=lambda _m: None)
    assert [b["status"] for b in report["benchmarks"]] == ["skipped"]
    assert all(r["value"] is None and "no catalog" in r["note"] for r in report["rows"])
    assert "musechat catalog demo" in report["markdown"]
