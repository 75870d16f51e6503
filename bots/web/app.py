"""The web app: the moderation console and the playground, one FastAPI application.

Pages are rendered on the server (Jinja2, autoescaped) and use no JavaScript at all, so
the Content-Security-Policy allows no script. Every response says how long the server
took (``Server-Timing: app;dur=<ms>``).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup

from bots.web.security import Forbidden, NotSignedIn, TooLarge
from core.config import Settings, get_settings
from core.conversation.service import ConversationNotFound, ConversationService, PickNotFound
from core.errors import UserError
from core.moderation.accounts import Principal
from core.moderation.actions import NotFound

HERE = Path(__file__).resolve().parent
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


def _when(value: datetime | None) -> str:
    if value is None:
        return "–"
    if value.tzinfo is None:  # SQLite hands back naive datetimes; they are UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _size(n: int | None) -> str:
    if n is None:
        return "–"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _seconds(value) -> str:
    try:
        return f"{float(value):.2f} s"
    except (TypeError, ValueError):
        return str(value)


@pass_context
def _csrf_field(ctx) -> Markup:
    """The hidden CSRF field every POST form of a signed-in page carries."""
    principal = ctx.get("principal")
    token = principal.csrf_token if principal else ""
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(token)


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters.update(when=_when, size=_size, seconds=_seconds)
    templates.env.globals["csrf"] = _csrf_field
    templates.env.autoescape = True  # every template, whatever its extension
    return templates


class WebApp:
    """Shared state of one app instance: settings, database, templates, the conversation
    service (created on the playground's first use)."""

    def __init__(self, settings: Settings, database_url: str | None):
        self.settings = settings
        self.database_url = database_url or settings.sqlalchemy_url
        self.templates = make_templates()
        self._service = None
        self._service_lock = threading.Lock()

    @property
    def service(self):
        """The same ConversationService the bots use. Without a broker its jobs run on a
        background thread of this process (fine for trying things out; a production
        deployment sets MUSECHAT_BROKER_URL and runs workers)."""
        with self._service_lock:  # one service (and one job thread) however many first requests race
            if self._service is None:
                self._service = ConversationService(self.settings, database_url=self.database_url,
                                                    background=True)
        return self._service


def render(request: Request, template: str, principal: Principal | None, *, status_code: int = 200,
           **context) -> HTMLResponse:
    web: WebApp = request.app.state.web
    return web.templates.TemplateResponse(request, template, {"principal": principal, **context},
                                          status_code=status_code)


def create_app(settings: Settings | None = None, *, database_url: str | None = None) -> FastAPI:
    """The app for ``settings`` (default: the process settings) and ``database_url``
    (default: the configured database)."""
    from bots.web import auth, console, media, playground

    settings = settings or get_settings()
    app = FastAPI(title="MuseChat console", docs_url=None, redoc_url=None, openapi_url=None)
    web = WebApp(settings, database_url)
    app.state.web = web
    app.state.settings = settings
    app.state.database_url = web.database_url

    @app.middleware("http")
    async def headers_and_timing(request: Request, call_next):
        t0 = time.perf_counter()
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        response.headers.setdefault("cache-control", "no-store")
        response.headers["server-timing"] = f"app;dur={(time.perf_counter() - t0) * 1000:.1f}"
        return response

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _exc: NotSignedIn):
        if request.method in ("GET", "HEAD"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return PlainTextResponse("Sign in first.", status_code=401)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden):
        principal = getattr(request.state, "principal", None)
        return render(request, "error.html", principal, status_code=403, title="Not allowed",
                      message=f"Not allowed: {exc.reason}.")

    @app.exception_handler(TooLarge)
    async def too_large(request: Request, exc: TooLarge):
        principal = getattr(request.state, "principal", None)
        return render(request, "error.html", principal, status_code=413, title="Too large",
                      message=f"That request is too large (the limit is {_size(exc.limit_bytes)}).")

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError):
        principal = getattr(request.state, "principal", None)
        missing = isinstance(exc, (NotFound, ConversationNotFound, PickNotFound))
        return render(request, "error.html", principal, status_code=404 if missing else 400,
                      title="Not found" if missing else "Cannot do that", message=exc.user_message)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/conversations", status_code=303)

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (auth, console, media, playground):
        app.include_router(module.router)
    return app
