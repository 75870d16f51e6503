"""Signing in and out."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from bots.web.app import render
from bots.web.security import (
    FORM_LIMIT_BYTES,
    LOGIN_COOKIE,
    TooLarge,
    check_same_origin,
    clear_session_cookies,
    client_address,
    csrf_form,
    current_principal,
    login_token,
    safe_next,
    set_login_cookie,
    set_session_cookie,
    settings_of,
    signed_in,
    tokens_match,
)
from core.moderation.accounts import LoginRefused, LoginThrottled, Principal, sign_in, sign_out

router = APIRouter()


def _login_page(request: Request, next_url: str, *, error: str | None = None, status_code: int = 200,
                name: str = "", headers: dict | None = None):
    token, fresh = login_token(request)
    response = render(request, "login.html", None, status_code=status_code, login_token=token,
                      next_url=safe_next(next_url), error=error, name=name)
    if fresh:
        set_login_cookie(request, response, token)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/conversations",
               principal: Principal | None = Depends(current_principal)):
    if principal is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next)


@router.post("/login")
async def login(request: Request):
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > FORM_LIMIT_BYTES:
        raise TooLarge(FORM_LIMIT_BYTES)
    check_same_origin(request)
    form: FormData = await request.form(max_files=0, max_fields=10)
    next_url = safe_next(str(form.get("next") or ""))
    name = str(form.get("name") or "")[:100]
    if not tokens_match(request.cookies.get(LOGIN_COOKIE), str(form.get("login_token") or "")):
        return _login_page(request, next_url, status_code=403, name=name,
                           error="The sign-in form expired. Please try again.")
    settings = settings_of(request)
    try:
        # argon2 is deliberately slow: off the event loop.
        signed = await run_in_threadpool(sign_in, name, str(form.get("password") or ""), client_address(request),
                                         settings, url=request.app.state.database_url)
    except LoginThrottled as exc:
        return _login_page(request, next_url, status_code=429, name=name, error=exc.user_message,
                           headers={"retry-after": str(exc.retry_after_s)})
    except LoginRefused as exc:
        return _login_page(request, next_url, status_code=401, name=name, error=exc.user_message)
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookie(request, response, signed.token, int(settings.web_session_hours * 3600))
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, principal: Principal = Depends(signed_in), _form: FormData = Depends(csrf_form)):
    sign_out(principal, url=request.app.state.database_url)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookies(response)
    return response
