"""`musechat serve slack`: what the process imports, and its one-line start-up errors."""

from __future__ import annotations

import os
import subprocess
import sys

from core.config import REPO_ROOT

HEAVY = ("torch", "torchaudio", "transformers", "open_clip", "faiss", "av")

# One `musechat` process (starting one costs seconds): it loads every command, builds the
# app for both transports, reports what got imported, then runs `serve slack` without a broker.
PROCESS = f"""
import os, sys
import core.cli
core.cli._load_plugins()  # everything `musechat` loads before running `serve slack`
from slack_bolt.adapter.socket_mode import SocketModeHandler
from bots.slack.app import create_bot, http_server
bot = create_bot(http=True)
http_server(bot, "127.0.0.1", 0).server_close()
SocketModeHandler(create_bot(http=False).app, app_token="xapp-1-test")  # builds its client, connects nowhere
print("loaded:", sorted(m for m in {HEAVY!r} if m in sys.modules), flush=True)
del os.environ["MUSECHAT_BROKER_URL"]
from core.config import reset_settings
reset_settings()
sys.argv = ["musechat", "serve", "slack", "--http"]
core.cli.main()
"""


def test_serve_slack_process_imports_no_torch_and_needs_a_broker(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MUSECHAT_", "SLACK_"))}
    env.update({"MUSECHAT_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO_ROOT),
                "MUSECHAT_BROKER_URL": "redis://127.0.0.1:9/0", "SLACK_BOT_TOKEN": "xoxb-1",
                "SLACK_SIGNING_SECRET": "s3cret"})
    done = subprocess.run([sys.executable, "-c", PROCESS], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "loaded: []", done.stderr
    # Without a broker it would have to run the models itself: it stops with one line instead.
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "MUSECHAT_BROKER_URL is not set" in line and "redis-server" in line and "musechat worker" in line


def test_missing_slack_settings_are_named(monkeypatch):
    from typer.testing import CliRunner

    from bots.serve import app
    from core.config import reset_settings
    from core.errors import ConfigError

    monkeypatch.setenv("MUSECHAT_BROKER_URL", "redis://127.0.0.1:9/0")
    cases = [(["--socket"], {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN is not set"),
             (["--http"], {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET is not set"),
             (["--http"], {"SLACK_SIGNING_SECRET": "s3cret"}, "SLACK_BOT_TOKEN is not set"),
             (["--socket", "--http"], {}, "choose one of --socket and --http")]
    for args, env, expected in cases:
        for key in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        reset_settings()
        result = CliRunner().invoke(app, ["slack", *args])
        message = str(result.exception) if isinstance(result.exception, ConfigError) else result.output
        assert expected in message, (args, result.output, result.exception)
