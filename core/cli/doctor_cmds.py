"""`musechat doctor` and `musechat config`: is this installation ready, and how is it set up."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from core.config import Settings, get_settings
from core.doctor import Check, run_checks


def doctor(as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON.")) -> None:
    """Check configuration, database, broker and model weights; say how to fix what is missing.

    Exits non-zero when something required is missing.
    """
    settings = get_settings()
    checks = run_checks(settings)
    failed = [c for c in checks if c.required and not c.ok]
    if as_json:
        typer.echo(json.dumps({"ok": not failed, "checks": [c.as_dict() for c in checks]}, indent=2))
    else:
        _print_checks(checks)
        if failed:
            typer.secho(f"\n{len(failed)} required check(s) failed.", fg="red")
        else:
            typer.secho("\nAll required checks passed.", fg="green")
    if failed:
        raise typer.Exit(1)


def _print_checks(checks: list[Check]) -> None:
    table = Table(show_header=True, header_style="bold")
    for col in ("", "check", "status", "how to fix"):
        table.add_column(col)
    for c in checks:
        mark = "[green]ok[/]" if c.ok else ("[red]MISSING[/]" if c.required else "[yellow]warn[/]")
        table.add_row(mark, c.name, c.detail, "" if c.ok else c.fix)
    Console().print(table)


def show_config(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Print the effective settings (secrets are shown only as set / unset)."""
    settings = get_settings()
    values = public_settings(settings)
    if as_json:
        typer.echo(json.dumps(values, indent=2))
        return
    for key, value in values.items():
        typer.echo(f"{key} = {value}")


def public_settings(settings: Settings) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if name.endswith(("token", "secret")):
            value = "(set)" if value is not None else "(unset)"
        elif name in ("database_url", "broker_url", "result_backend_url") and value:
            from sqlalchemy.engine import make_url

            try:
                value = make_url(value).render_as_string(hide_password=True)
            except Exception:
                value = "(set)"
        out[name] = str(value) if value is not None else None
    return out
