"""`musechat db ...`: create and upgrade the schema."""

from __future__ import annotations

import typer

from core.config import get_settings
from core.db import migrate

app = typer.Typer(help="Database schema: create, upgrade, inspect.", no_args_is_help=True)


def _safe_url() -> str:
    from sqlalchemy.engine import make_url

    return make_url(get_settings().sqlalchemy_url).render_as_string(hide_password=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create the schema or upgrade it to the latest revision."""
    migrate.upgrade(revision=revision)
    typer.echo(f"database {_safe_url()} at revision {migrate.schema_state().current}")


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. -1 or base.")) -> None:
    """Downgrade the schema (destroys data in dropped tables)."""
    migrate.downgrade(revision=revision)
    typer.echo(f"database {_safe_url()} at revision {migrate.schema_state().current}")


@app.command()
def current() -> None:
    """Print the schema revision of the database and of the code."""
    state = migrate.schema_state()
    if not state.reachable:
        typer.echo(f"database {_safe_url()} unreachable: {state.error}", err=True)
        raise typer.Exit(1)
    typer.echo(f"database: {state.current or '(empty)'}  code: {state.head}")
