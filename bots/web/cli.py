"""`musechat serve web`: the moderation console and playground over HTTP (uvicorn)."""

from __future__ import annotations

import typer

from core.config import get_settings
from core.errors import ConfigError


def web(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (put a TLS proxy in front for others)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
) -> None:
    """Serve the moderation console and the playground (accounts: `musechat moderator add`)."""
    import uvicorn

    from bots.web.app import create_app
    from core.db import migrate
    from core.moderation.accounts import list_moderators

    settings = get_settings()
    state = migrate.schema_state()
    if not state.up_to_date:
        raise ConfigError(f"the database schema is not current ({state.error or state.current or 'empty'}): "
                          "run `musechat db upgrade` first")
    if not list_moderators():
        typer.secho("no console accounts yet: create one with `musechat moderator add NAME --role admin`",
                    fg="yellow", err=True)
    if not settings.broker_url:
        typer.secho("no MUSECHAT_BROKER_URL: playground jobs run inside this process "
                    "(fine for trying it out; production runs workers behind a broker)", fg="yellow", err=True)
    # X-Forwarded-* are read by the app itself, and only with MUSECHAT_WEB_TRUST_PROXY.
    uvicorn.run(create_app(settings), host=host, port=port, proxy_headers=False,
                log_level=settings.log_level.lower(), server_header=False)
