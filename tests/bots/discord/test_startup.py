"""The bot process stays small: no torch, no media decoding, and `musechat serve discord`
stops with one clear line when what it needs is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.config import REPO_ROOT

CONSTRUCT = """
import json, sys, time
t0 = time.perf_counter()
from core.config import get_settings
from bots.discord.bot import MuseChatBot
bot = MuseChatBot(get_settings(), sync_commands=False)
seconds = time.perf_counter() - t0
heavy = sorted(m for m in ("torch", "torchaudio", "transformers", "open_clip", "av", "faiss") if m in sys.modules)
print(json.dumps({"heavy": heavy, "seconds": seconds, "commands": [c.name for c in bot.tree.get_commands()]}))
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSECHAT_") and k != "DISCORD_TOKEN"}
    env.update({"MUSECHAT_DATA_DIR": str(tmp_path / "data"), **extra})
    return env


def test_importing_and_constructing_the_bot_imports_no_torch(tmp_path):
    out = subprocess.run([sys.executable, "-c", CONSTRUCT], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=120, env=_env(tmp_path, MUSECHAT_BROKER_URL="redis://127.0.0.1:6399/0"))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert report["commands"] == ["recommend", "musechat", "Recommend music"]


def _serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    musechat = Path(sys.executable).with_name("musechat")
    return subprocess.run([str(musechat), "serve", "discord"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env=_env(tmp_path, **env))


def test_serve_discord_without_a_broker_says_how_to_start_one(tmp_path):
    out = _serve(tmp_path, DISCORD_TOKEN="token")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "MUSECHAT_BROKER_URL is not set" in lines[0]
    assert "redis-server" in lines[0] and "musechat worker" in lines[0]


def test_serve_discord_without_a_token_says_where_to_get_it(tmp_path):
    out = _serve(tmp_path, MUSECHAT_BROKER_URL="redis://127.0.0.1:6399/0")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [out.stderr.strip()] and "DISCORD_TOKEN is not set" in out.stderr
