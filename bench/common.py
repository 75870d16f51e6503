"""What every benchmark script shares: percentiles, peak memory, and the ``--json`` output
the suite runner (``bench/run.py``) reads."""

from __future__ import annotations

import json
import statistics
from pathlib import Path


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank: a value that was really measured)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def rss_mib(pid: int | str = "self") -> tuple[float, float]:
    """(current, peak) resident set size of a process in MiB, from /proc/PID/status
    (VmRSS and VmHWM: the high-water mark over the process's whole life)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return round(fields["VmRSS"], 1), round(fields["VmHWM"], 1)


def emit_json(result: dict) -> None:
    """Print the result as the last line of stdout: the runner parses that line."""
    print(json.dumps(result, default=float), flush=True)
