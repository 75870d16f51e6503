"""Peak resident memory of the web console process after it has served pages.

Starts the real `musechat serve web` in its own process on a throwaway SQLite database
seeded with logged conversations (two turns, three picks each), signs in as an admin and
requests the conversation list with every filter scenario of
``bench/moderation_list.py``, conversation pages, the audit log and the playground,
--rounds times over; then reads the server process's peak RSS (VmHWM). Also reports how
long the server took from start to answering. No model is loaded (no upload is made).

    .venv/bin/python bench/console_memory.py [--conversations 2000] [--rounds 3] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit_json, rss_mib  # noqa: E402


def measure(conversations: int = 2000, rounds: int = 3, say=print) -> dict:
    import requests

    from bench.moderation_list import SCENARIOS
    from core.db import migrate
    from core.db.session import dispose_all
    from core.moderation import accounts
    from tests.moderation.seed import bulk
    from tests.services import free_port, wait_port

    root = Path(tempfile.mkdtemp(prefix="musechat-console-bench-"))
    url = f"sqlite:///{root / 'musechat.db'}"
    migrate.upgrade(url)
    bulk(url, conversations)
    accounts.create_moderator("bench", "bench password 1", "admin", url=url)
    dispose_all()
    say(f"seeded {conversations:,} conversations")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSECHAT_")}
    env.update({"MUSECHAT_DATA_DIR": str(root), "MUSECHAT_LOG_LEVEL": "WARNING"})
    port = free_port()
    t0 = time.perf_counter()
    server = subprocess.Popen([str(Path(sys.executable).with_name("musechat")), "serve", "web", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=(root / "server.log").open("wb"))
    try:
        wait_port(port, timeout=60)
        base = f"http://127.0.0.1:{port}"
        with requests.Session() as client:
            def get(path: str, **kw):
                r = client.get(base + path, timeout=60, **kw)
                assert r.status_code == 200, (path, r.status_code)
                return r

            get("/login")
            start_s = time.perf_counter() - t0
            token = re.search(r'name="login_token" value="([^"]+)"', get("/login").text).group(1)
            r = client.post(base + "/login", data={"name": "bench", "password": "bench password 1",
                                                   "login_token": token}, headers={"Origin": base}, timeout=60)
            assert r.status_code == 200 and "/login" not in r.url, (r.status_code, r.url)
            pages = 0
            for _ in range(rounds):
                for params in SCENARIOS.values():
                    get("/conversations", params=params)
                    pages += 1
                for cid in (1, conversations // 2, conversations):
                    get(f"/conversations/{cid}")
                    pages += 1
                for path in ("/audit", "/playground"):
                    get(path)
                    pages += 1
        rss, peak = rss_mib(server.pid)  # uvicorn serves from this one process
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        shutil.rmtree(root, ignore_errors=True)
    return {"conversations": conversations, "pages": pages, "start_to_first_page_s": round(start_s, 2),
            "rss_mib": rss, "peak_rss_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=None, help="seeded conversations (default 2,000; --quick: 500)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of page requests (default 3; --quick: 1)")
    parser.add_argument("--quick", action="store_true", help="500 conversations, one round of pages")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    say = (lambda m: print(m, file=sys.stderr)) if args.json else print
    r = measure(args.conversations or (500 if args.quick else 2000), args.rounds or (1 if args.quick else 3), say)
    if args.json:
        emit_json(r)
        return
    print(f"web console ({r['conversations']:,} conversations in SQLite): served {r['pages']} pages; "
          f"first page {r['start_to_first_page_s']:.1f} s after start; RSS {r['rss_mib']:.0f} MiB, "
          f"peak {r['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
