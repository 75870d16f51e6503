"""Time to first reply of the Discord bot for many conversations at once, and how long its
event loop was ever blocked.

The real bot (discord.py client, conversation service, Celery dispatcher) runs in this
process against a throwaway PostgreSQL and Redis (no worker: this measures the front end,
not the models). The fake Discord of the tests — REST API, gateway, CDN — runs in a child
process, so its own work neither shares the bot's event loop nor its GIL. Once the bot is
connected, the child sends --conversations gateway events at once, each a different
member with a different small video:

* ``/recommend`` interactions: first reply = the deferred "thinking…" answer arriving at
  Discord; started = the answer edited to "Listening…" (attachment downloaded, stored,
  turn queued, thread opened);
* mentions with a video: first reply = the 🎧 reaction; started = "Listening…" posted in
  the new thread.

Reported: p50 / p99 / max of each, measured in the child from sending the event to
Discord receiving the reply, and the bot's worst event-loop delay (and how much of it
was code running on the loop) over the whole run.

    .venv/bin/python bench/discord_first_reply.py [--conversations 100] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import emit_json, percentile, rss_mib  # noqa: E402


# --- the child: fake Discord and the load ------------------------------------------------------

async def fake_side(n: int, n_channels: int, media: Path) -> None:
    from tests.bots.discord.fake_discord import FakeDiscord
    from tests.conversation.sample_media import write_clip

    fake = FakeDiscord()
    await fake.start()
    guild = fake.add_guild("Bench", channels=tuple(f"channel{c}" for c in range(n_channels)))
    channels = [fake.channels[int(c["id"])] for c in guild["channels"]]
    users = [fake.add_user(f"member{i}") for i in range(n)]
    clips = [write_clip(media / f"clip{i}.mp4", seconds=1.0 + i * 0.02).read_bytes() for i in range(n)]
    print(json.dumps({"api": fake.api_base, "gateway": fake.gateway_url}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    results = {}
    for mode in ("slash", "mention"):
        await reader.readline()  # the bot is connected and idle
        where = [channels[i % n_channels] for i in range(n)]
        atts = [fake.attachment(f"{mode}{i}.mp4", clips[i], channel_id=int(where[i]["id"])) for i in range(n)]
        sent: dict[int, float] = {}
        if mode == "slash":
            inters = [fake._interaction(2, users[i], where[i], {
                "id": "1", "name": "recommend", "type": 1, "options": [{"name": "video", "type": 11, "value": a["id"]}],
                "resolved": {"attachments": {a["id"]: a}}, "guild_id": guild["id"]}) for i, a in enumerate(atts)]
            for i, inter in enumerate(inters):
                sent[i] = time.perf_counter()
                await fake.send_interaction(inter)
            first_done = lambda i: bool(inters[i].responses)  # noqa: E731
            started = lambda i: inters[i].original_message_id is not None and "Listening" in \
                fake.messages[inters[i].original_message_id]["content"]  # noqa: E731
        else:
            msgs = []
            for i, a in enumerate(atts):
                sent[i] = time.perf_counter()
                msgs.append(await fake.user_message(users[i], where[i], "music please", attachments=[a],
                                                    mention_bot=True))
            first_done = lambda i: any(m == int(msgs[i]["id"]) for m, _ in fake.reactions)  # noqa: E731
            started = lambda i: int(msgs[i]["id"]) in fake.threads and any(
                "Listening" in m["content"] for m in fake.bot_messages(msgs[i]["id"]))  # noqa: E731
        first: dict[int, float] = {}
        done: dict[int, float] = {}
        deadline = time.perf_counter() + 120
        while (len(first) < n or len(done) < n) and time.perf_counter() < deadline:
            now = time.perf_counter()
            for i in range(n):
                if i not in first and first_done(i):
                    first[i] = now - sent[i]
                if i not in done and started(i):
                    done[i] = now - sent[i]
            async with fake._changed:
                try:
                    await asyncio.wait_for(fake._changed.wait(), 0.005)
                except asyncio.TimeoutError:
                    pass
        results[mode] = {"first": list(first.values()), "started": list(done.values())}
        print(json.dumps({"done": mode}), flush=True)
    print(json.dumps(results), flush=True)
    await fake.stop()


# --- the parent: the bot ------------------------------------------------------------------------

class CallbackTimer:
    """Times every callback the event loop runs (asyncio's Handle._run): the longest one is
    how long the loop was really blocked by a single piece of code."""

    def __init__(self):
        self.longest_s = 0.0
        self.longest_cpu_s = 0.0
        self.what = ""
        self._run = asyncio.events.Handle._run
        timer = self

        def timed(handle):
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return timer._run(handle)
            finally:
                wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
                if cpu > timer.longest_cpu_s:
                    timer.longest_s, timer.longest_cpu_s, timer.what = wall, cpu, repr(handle)[:160]

        asyncio.events.Handle._run = timed

    def reset(self) -> None:
        self.longest_s = self.longest_cpu_s = 0.0
        self.what = ""

async def bot_side(child: subprocess.Popen, urls: dict) -> dict:
    import discord
    import yarl
    from discord.gateway import DiscordWebSocket

    from bots.discord.bot import MuseChatBot
    from core.config import get_settings

    discord.http.Route.BASE = urls["api"]
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(urls["gateway"])
    bot = MuseChatBot(get_settings(), guild_ready_timeout=0.1)
    task = asyncio.create_task(bot.start("bench-token"))
    await asyncio.wait_for(bot.wait_until_ready(), 60)
    loop = asyncio.get_running_loop()
    blocks = {}
    timer = CallbackTimer()
    for mode in ("slash", "mention"):
        await asyncio.sleep(1.0)  # settle after connecting / the previous round
        bot.loop_watch.reset()
        timer.reset()
        child.stdin.write(b"go\n")
        child.stdin.flush()
        line = await loop.run_in_executor(None, child.stdout.readline)
        assert json.loads(line)["done"] == mode, line
        blocks[mode] = (bot.loop_watch.max_block_s, bot.loop_watch.max_busy_s, timer.longest_s,
                        timer.longest_cpu_s, timer.what)
    line = await loop.run_in_executor(None, child.stdout.readline)
    await bot.close()
    await task
    return {"measured": json.loads(line), "blocks": blocks}


def stats_ms(values: list[float]) -> dict:
    ms = [v * 1000 for v in values]
    if not ms:
        return {"n": 0}
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 1), "p99_ms": round(percentile(ms, 99), 1),
            "max_ms": round(max(ms), 1)}


def measure(conversations: int = 100, channels: int = 20) -> dict:
    """Per mode ("slash", "mention"): first reply and started latencies (ms: p50, p99, max,
    and how many of ``conversations`` got there), the longest single event-loop callback
    and worst tick delay (ms); plus the bot process's memory in MiB after the run."""
    from tests.services import PostgresServer, RedisServer

    root = Path(tempfile.mkdtemp(prefix="musechat-discord-bench-"))
    pg, redis = PostgresServer.start(), RedisServer.start()
    try:
        for key in [k for k in os.environ if k.startswith("MUSECHAT_")]:
            del os.environ[key]
        os.environ.update({"MUSECHAT_DATA_DIR": str(root / "data"), "MUSECHAT_DATABASE_URL": pg.url,
                           "MUSECHAT_BROKER_URL": redis.url, "MUSECHAT_LOG_LEVEL": "WARNING"})
        from core.db import migrate

        migrate.upgrade()
        (root / "media").mkdir()
        child = subprocess.Popen([sys.executable, __file__, "--fake", "--conversations", str(conversations),
                                  "--channels", str(channels), "--media", str(root / "media")],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
        urls = json.loads(child.stdout.readline())
        out = asyncio.run(bot_side(child, urls))
        child.wait(30)
    finally:
        redis.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    result = {"conversations": conversations, "channels": channels, "cpus": os.cpu_count()}
    for mode in ("slash", "mention"):
        m = out["measured"][mode]
        late, busy, longest, longest_cpu, what = out["blocks"][mode]
        result[mode] = {"first_reply": stats_ms(m["first"]), "started": stats_ms(m["started"]),
                        "longest_callback_ms": round(longest * 1000, 1),
                        "longest_callback_cpu_ms": round(longest_cpu * 1000, 1), "longest_callback": what,
                        "worst_tick_delay_ms": round(late * 1000, 1), "loop_busy_ms": round(busy * 1000, 1)}
    # The bot ran in this process (the fake Discord in a child): its memory after start-up
    # and the whole run. A bot process must never load torch.
    result["rss_mib"], result["peak_rss_mib"] = rss_mib()
    result["torch_imported"] = "torch" in sys.modules
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=None,
                        help="conversations started at once (default 100; --quick: 20)")
    parser.add_argument("--channels", type=int, default=20,
                        help="channels the conversations are spread over (Discord serialises each channel's "
                             "thread creations and reactions)")
    parser.add_argument("--quick", action="store_true", help="20 conversations")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--fake", action="store_true", help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--media", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = args.conversations or (20 if args.quick else 100)
    if args.fake:
        asyncio.run(fake_side(n, args.channels, args.media))
        return
    r = measure(n, args.channels)
    if args.json:
        emit_json(r)
        return
    print(f"{n} conversations at once in {args.channels} channels, fake Discord in a separate process; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    for mode, label in (("slash", "/recommend"), ("mention", "mention + video")):
        m = r[mode]
        print(f"{label}:")
        for key, name in (("first_reply", "first reply"), ("started", "started    ")):
            x = m[key]
            print(f"  {name} ({x['n']}/{n}):  p50 {x.get('p50_ms', 0):7.0f} ms   p99 {x.get('p99_ms', 0):7.0f} ms   "
                  f"max {x.get('max_ms', 0):7.0f} ms")
        print(f"  event loop: longest single callback {m['longest_callback_ms']:.0f} ms wall / "
              f"{m['longest_callback_cpu_ms']:.0f} ms CPU ({m['longest_callback']}); worst tick delay "
              f"{m['worst_tick_delay_ms']:.0f} ms (loop thread busy {m['loop_busy_ms']:.0f} ms of it)")
    print(f"bot process memory: RSS {r['rss_mib']:.0f} MiB, peak {r['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
