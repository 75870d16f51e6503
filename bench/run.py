"""The benchmark suite: runs every benchmark, prints each number beside its target, and
writes ``bench/results/latest.json`` (and, for a full run, the table ``bench/RESULTS.md``).

    .venv/bin/python bench/run.py [--quick | --full] [--only NAME ... [--update]] [--out DIR] [--markdown FILE]
    musechat bench [--quick | --full] [--only NAME ...]          # the same

Each benchmark is one script in this folder, run in its own process (so one's memory,
threads and environment never touch another's) as ``bench/SCRIPT.py --json [--quick]``;
the script prints one JSON object as its last line. Every figure is a median over
repeated runs after a warm-up (percentiles where a target speaks of them); ratios are
measured side by side in the same run. Nothing here passes or fails: a missed target is
a number to read, and a benchmark that cannot run (no catalog, no ffmpeg) is reported as
skipped with the reason.

Quick mode (``--quick``, about 3 minutes) runs each benchmark at its smallest size; the
full mode (the default) runs them at the sizes the targets are stated for, search up to
1,000,000 vectors included. The latency benchmarks that need models (turn latency,
explainer) read the configured installation (``MUSECHAT_DATA_DIR`` with a catalog:
``musechat catalog demo``); the others build what they need in temporary folders.

``bench/RESULTS.md`` is written by full runs of the whole suite (or wherever
``--markdown`` says). Sections of it from ``## GPU`` on are written by ``bench/gpu.py``
and kept as they are.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
# Generated inputs (the decode clip, the ingestion tracks) are kept here between runs.
CACHE = Path(tempfile.gettempdir()) / "musechat-bench-cache"


@dataclass(frozen=True)
class Target:
    """``op`` is "<=" or ">="; ``source`` says where the target was set."""

    op: str
    value: float
    source: str

    def met(self, measured: float) -> bool:
        return measured <= self.value if self.op == "<=" else measured >= self.value

    def text(self, unit: str) -> str:
        return f"{'≤' if self.op == '<=' else '≥'} {self.value:,g}{_unit(unit)}"


# Every target the issues and the README state, in one place.
TARGETS = {
    "ingest": Target(">=", 30.0, "issue 3: ingestion ≥ 30× real time on the 2-core machine"),
    "decode_ratio": Target("<=", 1.0, "issue 3: decode_video ≤ 1.0× the ffmpeg CLI"),
    "search_p50": Target("<=", 5.0, "issue 3: approximate search p50 ≤ 5 ms (stated at 1M vectors)"),
    "search_recall": Target(">=", 0.95, "issue 3: recall@10 ≥ 0.95 against exact search"),
    "turn1_picks": Target("<=", 2.0, "issue 14: turn-1 picks ≤ 2 s after the video is stored (30 s 720p clip)"),
    "pace": Target(">=", 0.8, "issue 14: the fast edit's top 5 faster and more energetic in ≥ 80 % of pace pairs"),
    "turn1_explain": Target("<=", 3.0, "issue 6: explanations ≤ 3 s after the picks"),
    "turn2_picks": Target("<=", 0.5, "issue 6: turn-2 picks ≤ 0.5 s"),
    "explainer": Target("<=", 3.0, "issue 5: 3 picks explained in ≤ 3 s on this 2-core CPU"),
    "explainer_tokens": Target("<=", 60, "issue 5: ≤ 60 new tokens per pick"),
    "discord_first": Target("<=", 1000.0, "issue 7: the bot answers within a second"),
    "discord_loop": Target("<=", 100.0, "issue 7: event loop never blocked for more than 100 ms"),
    "slack_ack": Target("<=", 3000.0, "issue 8: ack() within 3 seconds, always"),
    "moderation": Target("<=", 200.0, "issue 9: list page with a filter ≤ 200 ms server-side, 10,000 conversations"),
}


@dataclass(frozen=True)
class Metric:
    """One row of the table: where the number sits in the script's JSON (dotted path),
    what it is called, its unit and its target (None: reported without one)."""

    path: str
    label: str
    unit: str = ""
    target: str | None = None
    full_only: bool = False  # not measured in quick mode


@dataclass(frozen=True)
class Benchmark:
    name: str
    script: str
    what: str
    metrics: tuple[Metric, ...]
    timeout_quick: int = 300
    timeout_full: int = 1800
    needs_catalog: bool = False
    full_args: tuple[str, ...] = ()
    quick_args: tuple[str, ...] = ()
    in_quick: bool = True  # False: full mode only (quick mode reports it as not run)
    quick_skip: str = ""  # why quick mode leaves it out


def _search_metrics(size: str, full_only: bool) -> tuple[Metric, ...]:
    s = size
    return (
        Metric(f"{s}.exact_p50_ms", f"exact p50 at {s}", "ms", full_only=full_only),
        Metric(f"{s}.exact_p99_ms", f"exact p99 at {s}", "ms", full_only=full_only),
        Metric(f"{s}.hnsw_p50_ms", f"HNSW p50 at {s}", "ms", "search_p50", full_only=full_only),
        Metric(f"{s}.hnsw_p99_ms", f"HNSW p99 at {s}", "ms", full_only=full_only),
        Metric(f"{s}.hnsw_recall@10", f"HNSW recall@10 at {s}", "", "search_recall", full_only=full_only),
        Metric(f"{s}.speedup_exact_over_hnsw", f"exact / HNSW p50 at {s}", "×", full_only=full_only),
        Metric(f"{s}.hnsw_build_s", f"HNSW build at {s}", "s", full_only=full_only),
    )


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("ingest", "ingest.py", "catalog ingestion of 270 s Ogg Vorbis tracks (offline profile), one at a time",
              (Metric("speed_median", "ingestion speed (audio s / wall s)", "×", "ingest"),)),
    Benchmark("decode", "decode_vs_ffmpeg.py",
              "16 frames from a 60 s 1280×720 H.264 clip: decode_video vs the ffmpeg CLI, interleaved",
              (Metric("decode_video_ms", "decode_video", "ms"),
               Metric("ffmpeg_one_process_ms", "ffmpeg CLI, one process", "ms"),
               Metric("ffmpeg_per_frame_ms", "ffmpeg CLI, one process per frame", "ms", full_only=True),
               Metric("ratio_wall", "decode_video / fastest ffmpeg (wall)", "×", "decode_ratio"),
               Metric("ratio_cpu", "decode_video / fastest ffmpeg (CPU time)", "×", "decode_ratio")),
              full_args=("--keep", str(CACHE / "decode")), quick_args=("--keep", str(CACHE / "decode"))),
    Benchmark("search", "search.py", "FAISS search on random 256-d unit vectors: exact vs HNSW, top 10",
              _search_metrics("10k", False) + _search_metrics("100k", True) + _search_metrics("1M", True),
              timeout_full=2700),
    Benchmark("search_tower", "search.py",
              "FAISS search on music-tower keys of made-up tracks mixed from the catalog's: exact vs HNSW, top 10",
              _search_metrics("100k", False) + _search_metrics("1M", True),
              timeout_full=2700, needs_catalog=True, in_quick=False,
              quick_skip="the random-vector search stands in for it in quick mode",
              full_args=("--keys", "tower", "--sizes", "100000", "1000000"),
              quick_args=("--keys", "tower", "--sizes", "100000")),
    Benchmark("turn", "turn_latency.py",
              "a conversation's turns with the offline profile (30 s 1280×720 clip), in-process and "
              "through one Celery worker",
              (Metric("stages.decode_s", "turn 1: decode", "s"),
               Metric("stages.encode_s", "turn 1: encode frames", "s"),
               Metric("stages.search_s", "turn 1: search", "s"),
               Metric("stages.explain_s", "turn 1: explain (top 5)", "s", "turn1_explain"),
               Metric("stages.picks_s", "turn 1: decode + encode + search", "s", "turn1_picks"),
               Metric("service.turn1_picks_s", "turn 1 via the service: to picks", "s", "turn1_picks"),
               Metric("service.turn1_explain_after_picks_s", "turn 1 via the service: explanations after picks",
                      "s", "turn1_explain"),
               Metric("service.turn2_picks_s", "turn 2 via the service: to picks", "s", "turn2_picks"),
               Metric("service.turn2_explanations_s", "turn 2 via the service: to explanations", "s"),
               Metric("worker.turns_per_min", "one CPU worker (solo pool): throughput", "turns/min", full_only=True),
               Metric("worker.worker_peak_rss_mib", "peak RSS: CPU worker, offline profile, after its turns", "MiB",
                      full_only=True)),
              needs_catalog=True, timeout_quick=400),
    Benchmark("explainer", "explainer_latency.py", "one turn's 3 picks in one batched call (offline SmolLM2 + LoRA)",
              (Metric("median_s", "explainer: 3 picks", "s", "explainer"),
               Metric("baseline_median_s", "explainer: 3 picks with generate() (the path before), same run", "s"),
               Metric("cpu_median_s", "explainer: CPU time per call", "s"),
               Metric("max_new_tokens_per_pick", "explainer: most new tokens for one pick", "", "explainer_tokens"),
               Metric("peak_rss_mib", "peak RSS: process holding the explainer", "MiB")),
              needs_catalog=True, in_quick=False,
              quick_skip="the turn benchmark's explain stage covers it in quick mode"),
    Benchmark("explanations", "explanations.py",
              "30 explanations for 10 clips (3 picks each) beside the facts they were written from; "
              "rewrites bench/explanations.md",
              (Metric("explanations", "explanations written", ""),
               Metric("fallback_rate", "explanations replaced by the fallback sentence", ""),
               Metric("mean_words", "words per explanation (mean)", ""),
               Metric("median_turn_s", "explanations: one conversation's shown turn, end to end", "s")),
              needs_catalog=True, timeout_quick=400, timeout_full=1200),
    Benchmark("pace", "pace.py", "the same footage as fast cuts and as slow motion: do turn-1 picks follow the pace?",
              (Metric("both_higher", "pace pairs: fast edit's picks faster and more energetic", "", "pace"),
               Metric("tempo_higher", "pace pairs: fast edit's picks faster", ""),
               Metric("energy_higher", "pace pairs: fast edit's picks more energetic", ""),
               Metric("mean_shared_top5", "pace pairs: picks the two edits share (of 5)", ""),
               Metric("pairs", "pace pairs measured", "")),
              needs_catalog=True, timeout_quick=400),
    Benchmark("discord", "discord_first_reply.py",
              "conversations started at once through a fake Discord (bot + PostgreSQL + Redis, no worker)",
              (Metric("slash.first_reply.p50_ms", "/recommend first reply p50", "ms", "discord_first"),
               Metric("slash.first_reply.p99_ms", "/recommend first reply p99", "ms", "discord_first"),
               Metric("mention.first_reply.p50_ms", "mention first reply (🎧) p50", "ms", "discord_first"),
               Metric("mention.first_reply.p99_ms", "mention first reply (🎧) p99", "ms", "discord_first"),
               Metric("mention.started.p50_ms", "mention: \"Listening…\" in the thread p50", "ms"),
               Metric("slash.longest_callback_ms", "longest event-loop callback (/recommend)", "ms", "discord_loop"),
               Metric("mention.longest_callback_ms", "longest event-loop callback (mentions)", "ms", "discord_loop"),
               Metric("peak_rss_mib", "peak RSS: Discord bot process after the run", "MiB"))),
    Benchmark("slack", "slack_ack.py", "signed Events API requests to the Slack app in HTTP mode (mock Web API)",
              (Metric("ack_p50_ms", "Slack ack p50", "ms", "slack_ack"),
               Metric("ack_p99_ms", "Slack ack p99", "ms", "slack_ack"),
               Metric("ack_max_ms", "Slack ack max", "ms", "slack_ack"),
               Metric("peak_rss_mib", "peak RSS: Slack app process after the run", "MiB"))),
    Benchmark("moderation", "moderation_list.py",
              "moderation list page, server-side time, 8 filter scenarios, conversations in PostgreSQL",
              (Metric("worst_median_ms", "list page: slowest scenario's median", "ms", "moderation"),
               Metric("worst_p95_ms", "list page: slowest scenario's p95", "ms"))),
    Benchmark("console", "console_memory.py", "`musechat serve web` after serving list, detail and audit pages",
              (Metric("peak_rss_mib", "peak RSS: web console after serving pages", "MiB"),
               Metric("start_to_first_page_s", "web console: start to first page", "s"))),
)
BY_NAME = {b.name: b for b in BENCHMARKS}


# --- formatting ---------------------------------------------------------------------------

def _unit(unit: str) -> str:
    return "" if not unit else ("×" if unit == "×" else f" {unit}")


def _fmt(x: float) -> str:
    if isinstance(x, int) or float(x).is_integer() and abs(x) >= 10:
        return f"{int(x):,}"
    ax = abs(x)
    return f"{x:,.0f}" if ax >= 100 else f"{x:.1f}" if ax >= 10 else f"{x:.2f}" if ax >= 1 else f"{x:.3f}"


def _lookup(data: dict, path: str):
    """The value at a dotted path; keys may contain dots' neighbours like "recall@10"."""
    node = data
    parts = path.split(".")
    i = 0
    while i < len(parts):
        # "10k.hnsw_recall@10": try the longest key first so keys may hold dots.
        for j in range(len(parts), i, -1):
            key = ".".join(parts[i:j])
            if isinstance(node, dict) and key in node:
                node, i = node[key], j
                break
        else:
            return None
    return node


# --- the machine -------------------------------------------------------------------------

def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "bench", "core",
                                  "bots", "workers"], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        if commit and changed.strip():
            commit += " with uncommitted changes"
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": ram_gib, "os": platform.platform(),
            "python": platform.python_version(),
            "torch_threads": os.environ.get("MUSECHAT_TORCH_THREADS", "0 (torch default)"),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "git_commit": commit}


def catalog_tracks() -> tuple[int, str]:
    """(tracks in the configured catalog, data dir); 0 when there is no database yet."""
    from core.config import get_settings

    settings = get_settings()
    try:
        from sqlalchemy import func, select

        from core.db.models import Track
        from core.db.session import session_scope

        with session_scope() as s:
            return int(s.scalar(select(func.count(Track.id))) or 0), str(settings.data_dir)
    except Exception:  # no database or no schema: the catalog benchmarks are skipped
        return 0, str(settings.data_dir)


# --- running -----------------------------------------------------------------------------

@dataclass
class Outcome:
    name: str
    status: str  # "ok", "skipped", "failed"
    seconds: float = 0.0
    reason: str = ""
    raw: dict = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)


def run_one(bench: Benchmark, quick: bool, logs: Path) -> Outcome:
    cmd = [sys.executable, str(BENCH / bench.script), "--json"]
    cmd += ["--quick", *bench.quick_args] if quick else list(bench.full_args)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = logs / f"{bench.name}.log"
    t0 = time.perf_counter()
    try:
        with log.open("w") as err:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
                                  timeout=bench.timeout_quick if quick else bench.timeout_full)
    except subprocess.TimeoutExpired as exc:
        return Outcome(bench.name, "failed", time.perf_counter() - t0, f"timed out after {exc.timeout:.0f} s")
    seconds = time.perf_counter() - t0
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = log.read_text().strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        return Outcome(bench.name, "failed", seconds, tail[0][:300])
    return Outcome(bench.name, "ok", seconds, raw=json.loads(lines[-1]))


def rows_for(bench: Benchmark, outcome: Outcome, quick: bool) -> list[dict]:
    rows = []
    for m in bench.metrics:
        target = TARGETS[m.target] if m.target else None
        row = {"benchmark": bench.name, "metric": m.label, "key": m.path, "unit": m.unit, "value": None,
               "target": target.text(m.unit) if target else None, "target_source": target.source if target else None,
               "met": None, "note": ""}
        if outcome.status != "ok":
            row["note"] = f"{outcome.status}: {outcome.reason}"
        elif quick and m.full_only:
            row["note"] = "full mode only"
        else:
            value = _lookup(outcome.raw, m.path)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                row["value"] = value
                row["met"] = target.met(value) if target else None
            else:
                row["note"] = "not measured"
        rows.append(row)
    return rows


def measured_text(row: dict) -> str:
    if row["value"] is None:
        return f"— ({row['note']})"
    return f"{_fmt(row['value'])}{_unit(row['unit'])}"


def met_text(row: dict) -> str:
    return {True: "yes", False: "**no**", None: "–"}[row["met"]]


def markdown(report: dict, gpu_section: str = "") -> str:
    m = report["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `bench/run.py` ({report['mode']} mode) on {report['date']} at commit "
        f"`{m['git_commit']}`; the raw numbers are in `bench/results/latest.json`. "
        "Reproduce with `make bench` (full) or `make bench-quick`.",
        "",
        f"**Machine:** {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}, Python {m['python']}; "
        f"torch threads per process: {m['torch_threads']}, OMP_NUM_THREADS={m['omp_num_threads']}. "
        f"Load average (1 min) {report['load_average_start'][0]:.2f} at the start and "
        f"{report['load_average_end'][0]:.2f} at the end: the machine was shared with other jobs, so "
        "the latencies are noisier than on a dedicated host.",
        "",
        *[f"Re-run on {u['date']} at commit `{u['git_commit']}` (load average {u['load_average_start'][0]:.2f} → "
          f"{u['load_average_end'][0]:.2f}): {', '.join(u['benchmarks'])}." for u in report.get("updates", [])],
        *([""] if report.get("updates") else []),
        "Every figure is a median over repeated runs after a warm-up (p50/p99 over the requests where "
        "stated); ratios are measured side by side in the same run. Targets come from the project's issues "
        "(listed under the table). Nothing here is pass/fail.",
        "",
        "| benchmark | measured | target | met? |",
        "|---|---|---|---|",
    ]
    for row in report["rows"]:
        lines.append(f"| {row['benchmark']}: {row['metric']} | {measured_text(row)} | {row['target'] or '–'} | "
                     f"{met_text(row)} |")
    lines += ["", "## What each benchmark does", ""]
    for b in report["benchmarks"]:
        status = f"{b['seconds']:.0f} s" if b["status"] == "ok" else f"{b['status']}: {b['reason']}"
        lines.append(f"- **{b['name']}** (`bench/{b['script']}`, {status}): {b['what']}.{b['details']}")
    missed = [r for r in report["rows"] if r["met"] is False]
    lines += ["", "## Targets missed", ""]
    lines += [f"- {r['benchmark']}: {r['metric']} = {measured_text(r)} (target {r['target']})" for r in missed] or \
        ["- none"]
    lines += ["", "## Where the targets come from", ""]
    lines += [f"- {t.text('')}: {t.source}" for t in TARGETS.values()]
    text = "\n".join(lines) + "\n"
    if gpu_section:
        text += "\n" + gpu_section.rstrip() + "\n"
    return text


def details(name: str, raw: dict) -> str:
    """A sentence of context per benchmark, from its own numbers."""
    try:
        if name == "ingest":
            return (f" {raw['files']} files, speeds {raw['speed_min']}–{raw['speed_max']}×; "
                    f"music encoder {raw['encoder']}.")
        if name == "decode":
            return f" Median of {raw['repeats']} interleaved rounds; {raw['clip']}."
        if name in ("search", "search_tower"):
            parts = [f"{k}: {v['queries']} queries, HNSW M={v['hnsw_m']} efConstruction={v['hnsw_ef_construction']} "
                     f"efSearch={v['hnsw_ef_search']}, filtered search {v['hnsw_filtered_ms']} ms"
                     for k, v in raw.items()]
            return " " + "; ".join(parts) + "."
        if name == "turn":
            w = raw.get("worker") or {}
            extra = (f" Worker: {w['turns']} turns in {w['seconds']} s." if "turns" in w else "")
            return (f" Median of {raw['repeats']}; models loaded in {raw['models_load_s']} s "
                    f"({raw['profile']} profile, {raw['torch_threads'] or 'default'} torch threads, "
                    f"top {raw['top_k']}).{extra}")
        if name == "explainer":
            return (f" {raw['runs']} timed calls, {raw['torch_threads']} torch threads, "
                    f"{raw['mean_new_tokens_per_pick']} new tokens per pick on average, {raw['fallbacks']}/3 fallbacks.")
        if name == "explanations":
            written = f" Written to {Path(raw['written']).name}." if raw.get("written") else ""
            return f" {raw['clips']} clips, {raw['fallbacks']} fallbacks.{written}"
        if name == "discord":
            return (f" {raw['conversations']} conversations at once in {raw['channels']} channels; "
                    f"bot process imported torch: {raw['torch_imported']}.")
        if name == "slack":
            return (f" {raw['events']} events ({raw['mentions']} mentions with a video, {raw['replies']} thread "
                    f"replies); app process imported torch: {raw['torch_imported']}.")
        if name == "moderation":
            return f" {raw['conversations']:,} conversations, {raw['runs']} requests per scenario."
        if name == "console":
            return f" {raw['conversations']:,} conversations in SQLite, {raw['pages']} pages served."
    except (KeyError, TypeError):
        pass
    return ""


def merged(previous: dict, new: dict) -> dict:
    """``previous`` with the benchmarks of ``new`` put in their place (suite order kept)."""
    fresh = {b["name"]: b for b in new["benchmarks"]}
    rows = {}
    for row in previous["rows"] + new["rows"]:
        rows.setdefault(row["benchmark"], [])
    for name in rows:
        source = new if name in fresh else previous
        rows[name] = [r for r in source["rows"] if r["benchmark"] == name]
    kept = {b["name"]: b for b in previous["benchmarks"]}
    order = [b.name for b in BENCHMARKS if b.name in kept or b.name in fresh]
    report = {**previous, "benchmarks": [fresh.get(n) or kept[n] for n in order],
              "rows": [r for n in order for r in rows.get(n, [])]}
    report["updates"] = previous.get("updates", []) + [
        {"date": new["date"], "benchmarks": sorted(fresh), "git_commit": new["machine"]["git_commit"],
         "load_average_start": new["load_average_start"], "load_average_end": new["load_average_end"]}]
    return report


def existing_gpu_section(path: Path) -> str:
    if not path.exists():
        return ""
    text = path.read_text()
    i = text.find("\n## GPU")
    return text[i + 1:] if i >= 0 else ""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def run_suite(quick: bool, only: list[str] | None = None, out: Path | None = None,
              markdown_path: Path | None = None, say=print, update: bool = False) -> dict:
    """Run the chosen benchmarks; write ``out``/latest.json and, when given, the Markdown
    table to ``markdown_path``. With ``update``, the chosen benchmarks replace theirs in the
    existing ``out``/latest.json of the same mode and the others are kept. Returns the report."""
    out = out or BENCH / "results"
    out.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="musechat-bench-logs-"))
    chosen = [BY_NAME[n] for n in only] if only else list(BENCHMARKS)
    mode = "quick" if quick else "full"
    report = {"mode": mode, "date": _now(), "machine": machine(), "load_average_start": list(os.getloadavg()),
              "logs": str(logs), "benchmarks": [], "rows": []}
    previous = json.loads((out / "latest.json").read_text()) if update and (out / "latest.json").exists() else None
    if previous is not None and previous.get("mode") != mode:
        raise SystemExit(f"--update: {out / 'latest.json'} holds a {previous.get('mode')} run, not a {mode} one")
    tracks, data_dir = catalog_tracks() if any(b.needs_catalog for b in chosen) else (0, "")
    say(f"MuseChat benchmarks, {mode} mode: {', '.join(b.name for b in chosen)}; logs in {logs}")
    started = time.perf_counter()
    for i, bench in enumerate(chosen, 1):
        if quick and not bench.in_quick:
            outcome = Outcome(bench.name, "skipped", reason=f"full mode only ({bench.quick_skip})")
        elif bench.needs_catalog and tracks == 0:
            outcome = Outcome(bench.name, "skipped", reason=f"no catalog in {data_dir} (build one with "
                                                            "`musechat catalog demo` or set MUSECHAT_DATA_DIR)")
        else:
            outcome = run_one(bench, quick, logs)
        rows = rows_for(bench, outcome, quick)
        report["rows"] += rows
        report["benchmarks"].append({"name": bench.name, "script": bench.script, "what": bench.what,
                                     "status": outcome.status, "reason": outcome.reason, "date": _now(),
                                     "seconds": round(outcome.seconds, 1), "result": outcome.raw,
                                     "details": details(bench.name, outcome.raw) if outcome.raw else ""})
        shown = [f"{r['metric']} {measured_text(r)}" + (f" (target {r['target']}: {'met' if r['met'] else 'MISSED'})"
                                                         if r["target"] else "")
                 for r in rows if r["value"] is not None][:3]
        status = "; ".join(shown) if outcome.status == "ok" else f"{outcome.status}: {outcome.reason}"
        say(f"[{i}/{len(chosen)}] {bench.name:<10} {outcome.seconds:6.1f} s  {status}")
    report["load_average_end"] = list(os.getloadavg())
    report["seconds"] = round(time.perf_counter() - started, 1)
    if previous is not None:
        report = merged(previous, report)
    report["targets_missed"] = [f"{r['benchmark']}: {r['metric']}" for r in report["rows"] if r["met"] is False]
    (out / "latest.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    table = markdown(report, existing_gpu_section(markdown_path) if markdown_path else "")
    if markdown_path:
        markdown_path.write_text(table)
    report["markdown"] = table
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smallest sizes, about 3 minutes")
    mode.add_argument("--full", action="store_true", help="the sizes the targets are stated for (default)")
    parser.add_argument("--only", nargs="+", choices=list(BY_NAME), metavar="NAME",
                        help=f"run only these: {', '.join(BY_NAME)}")
    parser.add_argument("--out", type=Path, default=BENCH / "results", help="folder for latest.json")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="write the table here (default: bench/RESULTS.md after a full run of every benchmark, "
                             "or with --update)")
    parser.add_argument("--update", action="store_true",
                        help="put the --only benchmarks' new numbers into the existing latest.json of the same mode, "
                             "keeping the others")
    args = parser.parse_args(argv)
    markdown_path = args.markdown
    if markdown_path is None and not args.quick and (not args.only or args.update):
        markdown_path = BENCH / "RESULTS.md"
    report = run_suite(args.quick, args.only, args.out, markdown_path, update=args.update)
    print()
    print(report["markdown"].split("## What each benchmark does")[0].rstrip())
    print(f"\n{len(report['rows'])} numbers in {report['seconds']:.0f} s; written {args.out / 'latest.json'}"
          + (f" and {markdown_path}" if markdown_path else ""))


if __name__ == "__main__":
    main()
