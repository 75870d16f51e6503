"""`musechat serve web` starts the app; importing the web package never loads torch."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

from typer.testing import CliRunner

from core.config import REPO_ROOT
from core.db import migrate
from core.errors import ConfigError
from tests.services import free_port, wait_port


def _env(tmp_path, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSECHAT_")}
    return {**env, "MUSECHAT_DATA_DIR": str(tmp_path / "data"), **extra}


def test_importing_the_web_app_loads_no_model_code():
    code = ("import sys, bots.web; from bots.web.cli import web; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'faiss', 'av'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_serve_web_needs_a_current_schema_then_serves(tmp_path):
    from bots.serve import app

    refused = CliRunner().invoke(app, ["web", "--port", str(free_port())])
    assert isinstance(refused.exception, ConfigError) and "musechat db upgrade" in str(refused.exception)

    musechat = [sys.executable, "-c", "from core.cli import main; main()", "serve", "web"]
    migrate.upgrade(f"sqlite:///{tmp_path / 'data' / 'musechat.db'}")
    port = free_port()
    proc = subprocess.Popen([*musechat, "--port", str(port)], cwd=tmp_path, env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_port(port, timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10) as r:
            assert r.status == 200 and b"Sign in" in r.read()
            assert "default-src 'none'" in r.headers["content-security-policy"]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "no console accounts yet" in err and "musechat moderator add" in err
