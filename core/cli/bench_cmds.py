"""`musechat bench`: run the benchmark suite of a source checkout (``bench/run.py``).

The benchmarks live beside the package in the repository, not inside it (they use the
test harnesses), so this command runs the suite's script with this interpreter.
"""

from __future__ import annotations

import subprocess
import sys

import typer

from core.config import REPO_ROOT
from core.errors import ConfigError

RUNNER = REPO_ROOT / "bench" / "run.py"


def bench(
    quick: bool = typer.Option(False, "--quick", help="Smallest sizes, about 3 minutes."),
    full: bool = typer.Option(False, "--full", help="The sizes the targets are stated for (the default)."),
    only: list[str] = typer.Option(None, "--only", help="Run only this benchmark (repeatable): ingest, decode, "
                                   "search, turn, explainer, discord, slack, moderation, console."),
) -> None:
    """Run the benchmarks and print each number beside its target (writes bench/results/latest.json;
    a full run of all of them also writes bench/RESULTS.md)."""
    if quick and full:
        raise typer.BadParameter("choose one of --quick and --full")
    if not RUNNER.exists():
        raise ConfigError(f"the benchmarks need a source checkout of MuseChat ({RUNNER} is missing)")
    args = [sys.executable, str(RUNNER), "--quick" if quick else "--full"]
    if only:
        args += ["--only", *only]
    raise typer.Exit(subprocess.call(args, cwd=RUNNER.parent.parent))
