"""Who is asking, and may they: sessions, roles, CSRF and origin checks for the web app.

* The session cookie carries a random token (see :mod:`core.moderation.accounts`); it is
  HttpOnly, SameSite (``MUSECHAT_WEB_COOKIE_SAMESITE``) and Secure over HTTPS, where it is
  also named with the ``__Host-`` prefix so no other site on the domain can set it.
* Every state-changing request (every POST) must carry the session's CSRF token in the
  form (``csrf_token``) or the ``X-CSRF-Token`` header, and must not come from another
  origin (``Origin`` / ``Referer`` / ``Sec-Fetch-Site``). Sign-in has its own token in a
  short-lived cookie (double submit), since there is no session yet.
* Cross-site requests other than top-level navigations are refused outright, so another
  site cannot embed or fetch the console's pages, media or exports with a moderator's
  cookie.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from core.config import Settings
from core.moderation.accounts import Principal, principal_for

SESSION_COOKIE = "musechat_session"
SECURE_SESSION_COOKIE = "__Host-musechat_session"
LOGIN_COOKIE = "musechat_login"
CSRF_HEADER = "x-csrf-token"
FORM_LIMIT_BYTES = 64 * 1024  # every form but the playground's upload


class NotSignedIn(Exception):
    """No valid session: pages redirect to the sign-in page, actions get 401."""


class Forbidden(Exception):
    """Signed in (or not) but not allowed: 403 with ``reason``."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TooLarge(Exception):
    def __init__(self, limit_bytes: int):
        super().__init__(f"request body over {limit_bytes} bytes")
        self.limit_bytes = limit_bytes


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def is_https(request: Request) -> bool:
    settings = settings_of(request)
    if settings.web_secure_cookies == "always":
        return True
    if request.url.scheme == "https":
        return True
    if settings.web_trust_proxy:
        proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        return proto == "https"
    return False


def secure_cookies(request: Request) -> bool:
    return settings_of(request).web_secure_cookies != "never" and is_https(request)


def client_address(request: Request) -> str:
    if settings_of(request).web_trust_proxy:
        # The last hop is the one our own proxy appended; earlier ones are the client's word.
        forwarded = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
        if forwarded:
            return forwarded[-1][:64]
    return (request.client.host if request.client else "unknown")[:64]


def own_origin(request: Request) -> str:
    scheme = "https" if is_https(request) else "http"
    return f"{scheme}://{request.headers.get('host', request.url.netloc)}".lower()


def check_same_origin(request: Request) -> None:
    """Refuse a state-changing request sent by another origin."""
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        raise Forbidden("cross-site request")
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if referer:
            parts = urlsplit(referer)
            origin = f"{parts.scheme}://{parts.netloc}"
    if origin is not None and origin.lower() != own_origin(request):
        raise Forbidden("request from another origin")


def check_cross_site_read(request: Request) -> None:
    """A cross-site subresource request (img, fetch, audio) must not ride on the session.

    Top-level navigations stay allowed so a link from chat opens the console."""
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        if request.method != "GET" or request.headers.get("sec-fetch-mode", "navigate") != "navigate":
            raise Forbidden("cross-site request")


def session_token(request: Request) -> str | None:
    return request.cookies.get(SECURE_SESSION_COOKIE) or request.cookies.get(SESSION_COOKIE)


def current_principal(request: Request) -> Principal | None:
    """The signed-in moderator, or None (sync: FastAPI runs it in its thread pool)."""
    if not hasattr(request.state, "principal"):
        check_cross_site_read(request)
        request.state.principal = principal_for(session_token(request), settings_of(request),
                                                url=request.app.state.database_url)
    return request.state.principal


def signed_in(request: Request, principal: Principal | None = Depends(current_principal)) -> Principal:
    if principal is None:
        raise NotSignedIn()
    return principal


def admin(principal: Principal = Depends(signed_in)) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this needs an admin account")
    return principal


def _check_length(request: Request, limit: int) -> None:
    length = request.headers.get("content-length")
    if length is None:
        # Chunked bodies cannot be sized up front; browsers always send a length for forms.
        raise TooLarge(limit)
    try:
        if int(length) > limit:
            raise TooLarge(limit)
    except ValueError:
        raise TooLarge(limit) from None


def tokens_match(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(expected.encode(), given.encode())


async def _checked_form(request: Request, principal: Principal, limit: int) -> FormData:
    _check_length(request, limit)  # before reading a byte of the body
    check_same_origin(request)
    form = await request.form(max_files=1, max_fields=60)
    given = request.headers.get(CSRF_HEADER) or form.get("csrf_token")
    if not isinstance(given, str) or not tokens_match(principal.csrf_token, given):
        raise Forbidden("missing or wrong CSRF token")
    return form


async def csrf_form(request: Request, principal: Principal = Depends(signed_in)) -> FormData:
    """The POSTed form, after the origin and CSRF checks (a small form)."""
    return await _checked_form(request, principal, FORM_LIMIT_BYTES)


async def csrf_upload(request: Request, principal: Principal = Depends(signed_in)) -> FormData:
    """Like :func:`csrf_form` for the playground's upload (up to MUSECHAT_MAX_UPLOAD_MB)."""
    limit = int(settings_of(request).max_upload_mb * 1024 * 1024) + FORM_LIMIT_BYTES
    return await _checked_form(request, principal, limit)


# --- cookies ---------------------------------------------------------------------------------

def set_session_cookie(request: Request, response: Response, token: str, max_age_s: int) -> None:
    secure = secure_cookies(request)
    response.set_cookie(SECURE_SESSION_COOKIE if secure else SESSION_COOKIE, token, max_age=max_age_s, path="/",
                        httponly=True, secure=secure, samesite=settings_of(request).web_cookie_samesite)


def clear_session_cookies(response: Response) -> None:
    for name in (SESSION_COOKIE, SECURE_SESSION_COOKIE):
        response.delete_cookie(name, path="/", secure=name.startswith("__Host-"), httponly=True)


def login_token(request: Request) -> tuple[str, bool]:
    """The sign-in form's CSRF token and whether it still has to be set as a cookie."""
    existing = request.cookies.get(LOGIN_COOKIE)
    if existing and 20 <= len(existing) <= 100:
        return existing, False
    return secrets.token_urlsafe(32), True


def set_login_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path="/login", httponly=True,
                        secure=secure_cookies(request), samesite="strict")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a path on this site (no open redirect)."""
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(ch) < 32 for ch in target)):
        return "/conversations"
    return target[:500]
