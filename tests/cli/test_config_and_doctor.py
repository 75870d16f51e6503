"""Settings errors are one clear line; doctor reports what is missing and exits non-zero."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.config import get_settings, reset_settings
from core.doctor import run_checks
from core.errors import ConfigError


def musechat(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", "from core.cli import main; main()", *args],
                          capture_output=True, text=True, env=full_env, timeout=120)


@pytest.mark.parametrize("var,value,needle", [
    ("MUSECHAT_DATABASE_URL", "not a url", "MUSECHAT_DATABASE_URL"),
    ("MUSECHAT_BROKER_URL", "localhost:6379", "MUSECHAT_BROKER_URL"),
    ("MUSECHAT_MAX_UPLOAD_MB", "-5", "MUSECHAT_MAX_UPLOAD_MB"),
    ("MUSECHAT_PROFILE", "huge", "MUSECHAT_PROFILE"),
])
def test_bad_setting_stops_with_one_clear_line(var, value, needle):
    result = musechat("config", env={var: value})
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert needle in lines[0] and "Traceback" not in result.stderr


def test_bad_setting_raises_config_error(monkeypatch):
    monkeypatch.setenv("MUSECHAT_TOP_K", "0")
    reset_settings()
    with pytest.raises(ConfigError, match="MUSECHAT_TOP_K"):
        get_settings()


def test_secrets_are_never_printed(monkeypatch):
    result = musechat("config", "--json", env={"DISCORD_TOKEN": "super-secret-token-value",
                                               "MUSECHAT_DATABASE_URL": "postgresql+psycopg://u:hunter2@db/x"})
    assert result.returncode == 0, result.stderr
    assert "super-secret-token-value" not in result.stdout
    assert "hunter2" not in result.stdout
    assert json.loads(result.stdout)["discord_token"] == "(set)"


def test_doctor_reports_missing_database(tmp_path):
    result = musechat("doctor", "--json")
    report = json.loads(result.stdout)
    db = next(c for c in report["checks"] if c["name"] == "database")
    assert result.returncode == 1 and not report["ok"]
    assert not db["ok"] and "musechat db upgrade" in db["fix"]


def test_doctor_reports_unreachable_postgres():
    result = musechat("doctor", "--json",
                      env={"MUSECHAT_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none"})
    db = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "database")
    assert result.returncode == 1 and not db["ok"]


def test_doctor_passes_after_upgrade_with_offline_weights():
    assert musechat("db", "upgrade").returncode == 0
    result = musechat("doctor", "--json")
    report = json.loads(result.stdout)
    failed = [c for c in report["checks"] if c["required"] and not c["ok"]]
    assert failed == [] and result.returncode == 0, failed


def test_doctor_reports_missing_paper_weights(tmp_path, monkeypatch):
    """The paper profile's weights are not on this machine: doctor names each one."""
    monkeypatch.setenv("MUSECHAT_PROFILE", "paper")
    monkeypatch.setenv("MUSECHAT_AST_MODEL", str(tmp_path / "no-such-ast"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    reset_settings()
    checks = {c.name: c for c in run_checks(get_settings())}
    for name in ("weights: open_clip ViT-B-32", "weights: AST", "weights: explainer LM"):
        assert not checks[name].ok and checks[name].required
        assert "MUSECHAT_" in checks[name].fix


def test_doctor_checks_the_broker(redis_server):
    ok = musechat("doctor", "--json", env={"MUSECHAT_BROKER_URL": redis_server.url})
    broker = next(c for c in json.loads(ok.stdout)["checks"] if c["name"] == "broker")
    assert broker["ok"]
    bad = musechat("doctor", "--json", env={"MUSECHAT_BROKER_URL": "redis://127.0.0.1:1/0"})
    broker = next(c for c in json.loads(bad.stdout)["checks"] if c["name"] == "broker")
    assert not broker["ok"] and bad.returncode == 1


def test_every_command_has_help():
    from typer.main import get_command

    from core.cli import _load_plugins, app

    _load_plugins()
    root = get_command(app)

    def walk(cmd, path):
        yield path
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, [*path, name])

    for path in walk(root, []):
        result = musechat(*path, "--help")
        assert result.returncode == 0 and "Usage" in result.stdout, (path, result.stderr)
