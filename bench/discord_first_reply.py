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

    .venv/bin/python bench/discord_first_reply.py [--conversations 100]
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"p50 {percentile(ms, 50):7.0f} ms   p99 {percentile(ms, 99):7.0f} ms   max {max(ms):7.0f} ms"


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

async def bot_side(args, child: subprocess.Popen, urls: dict) -> dict:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--channels", type=int, default=20,
                        help="channels the conversations are spread over (Discord serialises each channel's "
                             "thread creations and reactions)")
    parser.add_argument("--fake", action="store_true", help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--media", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fake:
        asyncio.run(fake_side(args.conversations, args.channels, args.media))
        return

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
        child = subprocess.Popen([sys.executable, __file__, "--fake", "--conversations", str(args.conversations),
                                  "--channels", str(args.channels), "--media", str(root / "media")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 cwd=ROOT)
        urls = json.loads(child.stdout.readline())
        out = asyncio.run(bot_side(args, child, urls))
        child.wait(30)
    finally:
        redis.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    n = args.conversations
    print(f"{n} conversations at once in {args.channels} channels, fake Discord in a separate process; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    for mode, label in (("slash", "/recommend"), ("mention", "mention + video")):
        m = out["measured"][mode]
        late, busy, longest, longest_cpu, what = out["blocks"][mode]
        print(f"{label}:")
        print(f"  first reply ({len(m['first'])}/{n}):  {summary(m['first'])}")
        print(f"  started     ({len(m['started'])}/{n}):  {summary(m['started'])}")
        print(f"  event loop: longest single callback {longest * 1000:.0f} ms wall / {longest_cpu * 1000:.0f} ms CPU "
              f"({what}); worst tick delay {late * 1000:.0f} ms (loop thread busy {busy * 1000:.0f} ms of it)")


if __name__ == "__main__":
    main()
