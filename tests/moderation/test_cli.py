"""`musechat moderator ...`: accounts from the command line, password prompted."""

from __future__ import annotations

from sqlalchemy import select
from typer.testing import CliRunner

from core.cli import app
from core.db.models import Moderator
from core.db.session import session_scope


def test_moderator_add_list_passwd_disable(sqlite_db, monkeypatch):
    monkeypatch.setenv("MUSECHAT_DATABASE_URL", sqlite_db)
    run = CliRunner().invoke
    result = run(app, ["moderator", "add", "Ada", "--role", "admin"], input="a long password\na long password\n")
    assert result.exit_code == 0 and "created admin ada" in result.output
    assert "a long password" not in result.output.replace("Password", "")  # hidden input is not echoed
    result = run(app, ["moderator", "add", "mo"], input="short\nshort\n")
    assert result.exit_code != 0  # too short: refused
    result = run(app, ["moderator", "add", "mo", "--role", "owner"])
    assert result.exit_code != 0 and "owner" in result.output
    assert run(app, ["moderator", "add", "mo"], input="another password\nanother password\n").exit_code == 0
    listed = run(app, ["moderator", "list"]).output
    assert "ada" in listed and "admin" in listed and "mo " in listed and "never" in listed
    assert run(app, ["moderator", "passwd", "mo"], input="a new password!\na new password!\n").exit_code == 0
    assert run(app, ["moderator", "disable", "mo"]).exit_code == 0
    assert "(disabled)" in run(app, ["moderator", "list"]).output
    with session_scope(sqlite_db) as s:
        roles = {m.name: (m.role.value, m.active) for m in s.scalars(select(Moderator))}
    assert roles == {"ada": ("admin", True), "mo": ("moderator", False)}
