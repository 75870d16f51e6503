"""`musechat worker`: start a Celery worker with the options MuseChat needs.

GPU deployment: one worker process per GPU, each pinned to its card and using the solo
pool, so the models load once per GPU and no CUDA state crosses a fork::

    musechat worker --queues gpu --pool solo --gpu 0
    musechat worker --queues gpu --pool solo --gpu 1
    musechat worker --queues cpu --pool prefork --concurrency 4   # housekeeping

A CPU-only machine runs ``musechat worker`` (both queues, solo pool).
"""

from __future__ import annotations

import enum
import os
import socket

import typer

from core.config import get_settings
from core.errors import ConfigError


class Pool(str, enum.Enum):
    solo = "solo"
    prefork = "prefork"
    threads = "threads"


def worker(
    queues: str = typer.Option("gpu,cpu", "--queues", "-Q", help="Comma-separated queues to consume: gpu, cpu."),
    pool: Pool = typer.Option(Pool.solo, "--pool", help="solo: one process (GPU workers); prefork: forked children."),
    concurrency: int = typer.Option(1, "--concurrency", "-c", min=1, help="Processes (prefork) or threads."),
    gpu: int | None = typer.Option(None, "--gpu", min=0, help="Pin this worker to one GPU (sets CUDA_VISIBLE_DEVICES)."),
    loglevel: str = typer.Option("INFO", "--loglevel", "-l", help="Celery log level."),
    redeliver_after: float | None = typer.Option(
        None, "--redeliver-after", min=1.0,
        help="Seconds after which a job of a vanished worker runs again (default: job timeout + 30 s; "
             "must exceed MUSECHAT_JOB_TIMEOUT_S)."),
) -> None:
    """Start a worker that answers turns from the queue (needs MUSECHAT_BROKER_URL)."""
    if gpu is not None:
        # Before anything imports torch, so the process sees exactly one card.
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    settings = get_settings()
    if not settings.broker_url:
        raise ConfigError("MUSECHAT_BROKER_URL is not set: a worker needs a broker "
                          "(without one, jobs run inside the front end's process)")
    names = [q.strip() for q in queues.split(",") if q.strip()]
    from workers.celery_app import QUEUES, create_app

    unknown = sorted(set(names) - set(QUEUES))
    if unknown or not names:
        raise typer.BadParameter(f"unknown queue(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(QUEUES)}",
                                 param_hint="--queues")
    if pool is Pool.solo and concurrency != 1:
        raise typer.BadParameter("the solo pool runs one job at a time; use --pool prefork for more",
                                 param_hint="--concurrency")
    if settings.torch_threads == 0 and pool is not Pool.solo and concurrency > 1:
        # Several model copies on one CPU each taking every core thrash; one thread each.
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    app = create_app(settings, redeliver_after_s=redeliver_after)
    host = f"musechat-{'-'.join(names)}-{os.getpid()}@{socket.gethostname()}"
    app.worker_main([
        "worker", f"--queues={','.join(names)}", f"--pool={pool.value}", f"--concurrency={concurrency}",
        "--prefetch-multiplier=1", "-O", "fair", f"--loglevel={loglevel}", f"--hostname={host}",
        "--without-gossip", "--without-mingle",
    ])
