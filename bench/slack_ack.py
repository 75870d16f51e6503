"""Acknowledgement latency of the Slack app in HTTP mode (Slack wants an answer within 3 s).

Serves the real app (signature check, Bolt, listeners, the intake queue) on a local port,
talking to the mock Slack Web API of the tests, with the real conversation service on a
throwaway SQLite database whose jobs are recorded instead of run (this measures the
front end, not the models). Sends --events signed Events API requests — mentions with a
video file (downloaded from the mock, stored, turned into a conversation) alternating
with replies in those threads once "listening…" is posted there (next turns) — and
reports the time from sending a request to receiving its acknowledgement: p50, p99 and
max, plus how long the queued work took.

    .venv/bin/python bench/slack_ack.py [--events 200] [--concurrency 1] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit_json, percentile, rss_mib  # noqa: E402


def measure(events: int = 200, concurrency: int = 1) -> dict:
    """Ack latency in ms (p50, p99, max, mean) over ``events`` signed requests, seconds until
    the queued work was done, and this process's memory (the Slack app's process) in MiB."""
    root = Path(tempfile.mkdtemp(prefix="musechat-slack-bench-"))
    for key in [k for k in os.environ if k.startswith(("MUSECHAT_", "SLACK_"))]:
        del os.environ[key]
    os.environ.update({"MUSECHAT_DATA_DIR": str(root / "data"), "SLACK_BOT_TOKEN": "xoxb-test",
                       "SLACK_SIGNING_SECRET": "bench-secret"})

    from bots.slack.app import EVENTS_PATH, create_bot, http_server
    from bots.slack.installs import web_client
    from core.config import get_settings
    from core.conversation.service import ConversationService
    from core.db import migrate
    from tests.bots.slack.mock_slack import MockSlack
    from tests.bots.slack.slack_requests import Slack, mention, message
    from tests.conversation.sample_media import write_clip

    class Recorded:
        def submit(self, turn_id: int, job_id: str) -> None:
            pass

    settings = get_settings()
    migrate.upgrade()
    mock = MockSlack({"xoxb-test": "T1"})
    service = ConversationService(settings, dispatcher=Recorded())
    bot = create_bot(settings, service=service, client=web_client("xoxb-test", base_url=mock.base_url))
    server = http_server(bot, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    slack = Slack(f"http://127.0.0.1:{server.server_port}{EVENTS_PATH}", secret="bench-secret")
    video = mock.host_file("clip.mp4", write_clip(root / "clip.mp4", seconds=2.0).read_bytes())

    def one(i: int) -> float:
        if i % 2 == 0:
            event = mention("something calm", files=[video], channel=f"C{i % 7}")
            threads[i + 1] = event["ts"]
        else:
            # Replied in the thread its mention opened, once "listening…" is there (as people do).
            while i not in threads or not any(c.params.get("thread_ts") == threads[i] for c in mock.posts()):
                time.sleep(0.002)
            event = message("calmer please", channel=f"C{(i - 1) % 7}", thread_ts=threads[i])
        t0 = time.perf_counter()
        status, _ = slack.event(event, event_id=f"EvBench{i:05d}")
        elapsed = time.perf_counter() - t0
        assert status == 200, status
        return elapsed

    threads: dict[int, str] = {}
    slack.event(message("warm-up", channel="C0", thread_ts="1.0"), event_id="EvWarm")  # first-request set-up
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(one, range(events)))
    sent = time.perf_counter() - started
    while any(not f.done() for f in bot.intake.futures) or len(mock.posts()) < events:
        if time.perf_counter() - started > 300:
            break
        time.sleep(0.05)
    worked = time.perf_counter() - started
    ms = [x * 1000 for x in latencies]
    turns = sum(len(service.conversation(c)) for c in range(1, events + 1)
                if _exists(service, c))
    out = {"events": events, "mentions": events // 2, "replies": events - events // 2, "concurrency": concurrency,
           "ack_p50_ms": round(percentile(ms, 50), 1), "ack_p99_ms": round(percentile(ms, 99), 1),
           "ack_max_ms": round(max(ms), 1), "ack_mean_ms": round(statistics.mean(ms), 1),
           "sent_s": round(sent, 1), "work_done_s": round(worked, 1), "turns_stored": turns}
    server.shutdown()
    bot.stop()
    mock.close()
    shutil.rmtree(root, ignore_errors=True)
    # The app's process after start-up and the whole run (the mock Slack shares it, so this
    # is an upper bound for the app alone); a bot process must never load torch.
    out["rss_mib"], out["peak_rss_mib"] = rss_mib()
    out["torch_imported"] = "torch" in sys.modules
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=None, help="signed requests (default 200; --quick: 40)")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight at once")
    parser.add_argument("--quick", action="store_true", help="40 events")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    r = measure(args.events or (40 if args.quick else 200), args.concurrency)
    if args.json:
        emit_json(r)
        return
    print(f"events: {r['events']} ({r['mentions']} mentions with a video, {r['replies']} "
          f"thread replies), concurrency {r['concurrency']}, CPUs {os.cpu_count()}")
    print(f"ack latency: p50 {r['ack_p50_ms']:.1f} ms, p99 {r['ack_p99_ms']:.1f} ms, "
          f"max {r['ack_max_ms']:.1f} ms, mean {r['ack_mean_ms']:.1f} ms")
    print(f"all requests sent in {r['sent_s']:.1f} s; queued work (downloads, turns, replies) done after "
          f"{r['work_done_s']:.1f} s; turns stored: {r['turns_stored']}")
    print(f"app process memory: RSS {r['rss_mib']:.0f} MiB, peak {r['peak_rss_mib']:.0f} MiB")


def _exists(service, conversation_id: int) -> bool:
    from core.conversation.service import ConversationNotFound

    try:
        return bool(service.conversation(conversation_id))
    except ConversationNotFound:
        return False


if __name__ == "__main__":
    main()
