"""`musechat moderator ...` (console accounts) and `musechat retention run`."""

from __future__ import annotations

import json

import typer

from core.config import get_settings
from core.db.models import ModeratorRole
from core.moderation import accounts
from core.moderation.retention import run_retention

moderator_app = typer.Typer(help="Moderation console accounts.", no_args_is_help=True)
retention_app = typer.Typer(help="Delete conversations and media older than the retention settings.",
                            no_args_is_help=True)


def _new_password() -> str:
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@moderator_app.command("add")
def add(
    name: str = typer.Argument(..., help="Account name (letters, digits, . _ @ -; case-insensitive)."),
    role: ModeratorRole = typer.Option(ModeratorRole.moderator, "--role",
                                       help="moderator: read, flag, unflag; admin: also delete and export."),
) -> None:
    """Create a console account; the password is asked for (never an argument: shell history)."""
    mod = accounts.create_moderator(name, _new_password(), role)
    typer.echo(f"created {mod.role.value} {mod.name}")


@moderator_app.command("list")
def list_accounts() -> None:
    """List accounts with their role and last sign-in."""
    for mod in accounts.list_moderators():
        state = "" if mod.active else "  (disabled)"
        last = mod.last_login_at.isoformat(timespec="minutes") if mod.last_login_at else "never"
        typer.echo(f"{mod.name:<24} {mod.role.value:<10} last sign-in {last}{state}")


@moderator_app.command("passwd")
def passwd(name: str = typer.Argument(..., help="Account name.")) -> None:
    """Set a new password (signs the account out everywhere)."""
    accounts.set_password(name, _new_password())
    typer.echo(f"password changed for {accounts.normalise_name(name)}")


@moderator_app.command("disable")
def disable(name: str = typer.Argument(..., help="Account name.")) -> None:
    """Disable an account and end its sessions (the audit log keeps its name)."""
    accounts.set_active(name, False)
    typer.echo(f"disabled {accounts.normalise_name(name)}")


@moderator_app.command("enable")
def enable(name: str = typer.Argument(..., help="Account name.")) -> None:
    """Enable a disabled account again."""
    accounts.set_active(name, True)
    typer.echo(f"enabled {accounts.normalise_name(name)}")


@retention_app.command("run")
def run(as_json: bool = typer.Option(False, "--json", help="Print the counts as one JSON object.")) -> None:
    """Run the retention sweep now (the same as the periodic Celery beat task)."""
    settings = get_settings()
    report = run_retention(settings)
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
        return
    keep = lambda days: f"{days} days" if days else "forever"  # noqa: E731
    typer.echo(f"conversations kept {keep(settings.retention_conversation_days)}, "
               f"media kept {keep(settings.retention_media_days)}")
    typer.echo(f"deleted {report.conversations} conversations ({report.turns} turns, {report.reactions} reactions), "
               f"media of {report.media} videos, {report.files} files; "
               f"{report.sessions} ended sessions, {report.login_attempts} old sign-in attempts")
