"""Moderation console list page: server-side render time with 10,000 conversations in PostgreSQL.

Seeds a PostgreSQL database (a throwaway server started like the tests do, or ``--url``
of an empty database you own) with logged conversations (two turns, three picks each,
some flagged or failed), signs in, then requests the list page with several filters and
reads the server's own timing (``Server-Timing: app;dur=...``: the whole request inside
the app — queries, counts and the Jinja render — without the client). Target: ≤ 200 ms.
Not a test: numbers, not pass/fail.

    python bench/moderation_list.py                      # throwaway PostgreSQL
    python bench/moderation_list.py --url postgresql+psycopg://user@host/empty_db --json
    python bench/moderation_list.py --quick        # 2,000 conversations, 5 requests each
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit_json  # noqa: E402

TARGET_MS = 200.0
SCENARIOS = {
    "no filter": {},
    "platform": {"platform": "slack"},
    "feedback search": {"q": "calmer"},
    "flagged": {"flagged": "1"},
    "failed turns + platform": {"failed": "1", "platform": "discord"},
    "user": {"user": "u42"},
    "date range + search": {"since": "2026-10-01", "until": "2026-10-31", "q": "piano"},
    "page 50": {"page": "50"},
}


def run(url: str, conversations: int, runs: int, say) -> dict:
    from starlette.testclient import TestClient

    from bots.web import create_app
    from core.config import Settings
    from core.db import migrate
    from core.moderation import accounts
    from tests.moderation.seed import bulk

    say("migrating…")
    migrate.upgrade(url)
    t0 = time.perf_counter()
    bulk(url, conversations)
    say(f"seeded {conversations:,} conversations in {time.perf_counter() - t0:.1f} s")
    accounts.create_moderator("bench", "bench password 1", "admin", url=url)
    with tempfile.TemporaryDirectory() as data:
        client = TestClient(create_app(Settings(data_dir=Path(data)), database_url=url))
        token = re.search(r'name="login_token" value="([^"]+)"', client.get("/login").text).group(1)
        client.post("/login", data={"name": "bench", "password": "bench password 1", "login_token": token})
        results = {}
        for name, params in SCENARIOS.items():
            times, wall = [], []
            for i in range(runs + 2):
                t = time.perf_counter()
                r = client.get("/conversations", params=params)
                elapsed = (time.perf_counter() - t) * 1000
                assert r.status_code == 200, r.status_code
                if i >= 2:  # the first requests warm caches (templates, plans)
                    times.append(float(r.headers["server-timing"].split("dur=")[1]))
                    wall.append(elapsed)
            total = re.search(r'<strong id="total">([\d,]+)', r.text).group(1)
            times.sort()
            results[name] = {"params": params, "matching": int(total.replace(",", "")),
                             "median_ms": round(statistics.median(times), 1),
                             "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
                             "max_ms": round(times[-1], 1), "client_median_ms": round(statistics.median(wall), 1)}
    return {"conversations": conversations, "runs": runs, "target_ms": TARGET_MS, "scenarios": results,
            "worst_median_ms": max(r["median_ms"] for r in results.values()),
            "worst_p95_ms": max(r["p95_ms"] for r in results.values())}


def measure(url: str | None = None, conversations: int = 10_000, runs: int = 20, say=print) -> dict:
    """The list page's server-side time per filter scenario (ms: median, p95, max) with
    ``conversations`` seeded into ``url`` or a throwaway PostgreSQL."""
    server = None
    if url is None:
        from sqlalchemy import create_engine, text

        from tests.services import PostgresServer

        say("starting a throwaway PostgreSQL…")
        server = PostgresServer.start()
        admin = create_engine(server.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('CREATE DATABASE "bench"'))
        admin.dispose()
        url = server.url_for("bench")
    try:
        return run(url, conversations, runs, say)
    finally:
        from core.db.session import dispose_all

        dispose_all()
        if server is not None:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an empty PostgreSQL database (default: start a throwaway server)")
    parser.add_argument("--conversations", type=int, default=None, help="default 10,000 (--quick: 2,000)")
    parser.add_argument("--runs", type=int, default=None, help="timed requests per scenario (default 20; --quick: 5)")
    parser.add_argument("--quick", action="store_true", help="2,000 conversations, 5 requests per scenario")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    say = (lambda m: print(m, file=sys.stderr))
    report = measure(args.url, args.conversations or (2_000 if args.quick else 10_000),
                     args.runs or (5 if args.quick else 20), say)
    if args.json:
        emit_json(report)
        return
    print(f"list page, {report['conversations']:,} conversations in PostgreSQL, "
          f"server-side time over {report['runs']} requests (target ≤ {TARGET_MS:.0f} ms)")
    print(f"{'scenario':<26}{'matching':>10}{'median':>10}{'p95':>10}{'max':>10}")
    for name, r in report["scenarios"].items():
        print(f"{name:<26}{r['matching']:>10,}{r['median_ms']:>8.1f}ms{r['p95_ms']:>8.1f}ms{r['max_ms']:>8.1f}ms")
    verdict = "meets" if report["worst_median_ms"] <= TARGET_MS else "MISSES"
    print(f"slowest scenario's median {report['worst_median_ms']:.1f} ms ({verdict} the target); "
          f"slowest p95 {report['worst_p95_ms']:.1f} ms")


if __name__ == "__main__":
    main()
