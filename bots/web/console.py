"""The moderation console: conversation list and detail, flag / unflag, delete, export,
deleting a user's data, and the read-only audit log."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, StreamingResponse
from starlette.datastructures import FormData

from bots.web.app import render
from bots.web.security import admin, csrf_form, settings_of, signed_in
from core.db.session import session_scope
from core.moderation import actions, audit, export
from core.moderation.accounts import Principal
from core.moderation.queries import ConversationFilter, conversation_detail, list_conversations

router = APIRouter()

# Messages shown after an action's redirect; only these fixed texts, never text from the URL.
NOTICES = {
    "flagged": "Conversation flagged.",
    "unflagged": "Flags cleared.",
    "deleted": "Conversation deleted.",
}


def _int(value: str | None, default: int = 1) -> int:
    try:
        return max(1, int(value or default))
    except ValueError:
        return default


def _url(request: Request) -> str:
    return request.app.state.database_url


def page_link(path: str, params: dict[str, str], **changes) -> str:
    merged = {k: v for k, v in {**params, **{k: str(v) for k, v in changes.items()}}.items() if v}
    return path + ("?" + urlencode(merged) if merged else "")


@router.get("/conversations")
def conversation_list(request: Request, principal: Principal = Depends(signed_in)):
    settings = settings_of(request)
    flt = ConversationFilter.from_params(request.query_params)
    with session_scope(_url(request)) as s:
        result = list_conversations(s, flt, page=_int(request.query_params.get("page")),
                                    page_size=settings.web_page_size)
    params = flt.to_params()
    return render(request, "conversations.html", principal, flt=flt, result=result, params=params,
                  link=lambda **changes: page_link("/conversations", params, **changes),
                  notice=NOTICES.get(request.query_params.get("done", "")))


@router.get("/conversations/{conversation_id}")
def conversation_page(conversation_id: int, request: Request, principal: Principal = Depends(signed_in)):
    with session_scope(_url(request)) as s:
        detail = conversation_detail(s, conversation_id)
        if detail is None:
            raise actions.NotFound(f"conversation {conversation_id}")
        # Reading a conversation is access to personal data: recorded like any action.
        audit.record(s, principal.name, "view", f"conversation:{conversation_id}")
    return render(request, "conversation.html", principal, c=detail,
                  notice=NOTICES.get(request.query_params.get("done", "")))


@router.post("/conversations/{conversation_id}/flag")
def flag(conversation_id: int, request: Request, principal: Principal = Depends(signed_in),
         form: FormData = Depends(csrf_form)):
    actions.flag(conversation_id, principal.name, str(form.get("reason") or ""), url=_url(request))
    return RedirectResponse(f"/conversations/{conversation_id}?done=flagged", status_code=303)


@router.post("/conversations/{conversation_id}/unflag")
def unflag(conversation_id: int, request: Request, principal: Principal = Depends(signed_in),
           form: FormData = Depends(csrf_form)):
    actions.unflag(conversation_id, principal.name, str(form.get("reason") or ""), url=_url(request))
    return RedirectResponse(f"/conversations/{conversation_id}?done=unflagged", status_code=303)


@router.post("/conversations/{conversation_id}/delete")
def delete(conversation_id: int, request: Request, principal: Principal = Depends(admin),
           form: FormData = Depends(csrf_form)):
    if form.get("confirm") != "yes":
        raise actions.BadRequest("not confirmed", user_message="Tick the box to confirm the deletion.")
    actions.delete_conversation(conversation_id, principal.name, settings_of(request), url=_url(request))
    return RedirectResponse("/conversations?done=deleted", status_code=303)


@router.post("/export")
def export_conversations(request: Request, principal: Principal = Depends(admin),
                         form: FormData = Depends(csrf_form)):
    fmt = str(form.get("format") or "")
    if fmt not in export.FORMATS:
        raise actions.BadRequest(f"format {fmt!r}", user_message="Choose CSV or JSON.")
    flt = ConversationFilter.from_params({k: str(v) for k, v in form.items() if isinstance(v, str)})
    ids = export.begin_export(flt, fmt, principal.name, url=_url(request))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    body = (export.iter_csv if fmt == "csv" else export.iter_json)(ids, url=_url(request))
    media_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    return StreamingResponse(body, media_type=media_type, headers={
        "content-disposition": f'attachment; filename="musechat-conversations-{stamp}.{fmt}"'})


@router.get("/users/delete")
def delete_user_form(request: Request, principal: Principal = Depends(admin)):
    prefill = request.query_params.get("user", "")[:200]
    return render(request, "delete_user.html", principal, identities=prefill, result=None, error=None)


@router.post("/users/delete")
def delete_user(request: Request, principal: Principal = Depends(admin), form: FormData = Depends(csrf_form)):
    text = str(form.get("identities") or "")
    try:
        if form.get("confirm") != "yes":
            raise actions.BadRequest("not confirmed", user_message="Tick the box to confirm the deletion.")
        result = actions.delete_user_data(actions.parse_identities(text), principal.name, settings_of(request),
                                          url=_url(request))
    except actions.BadRequest as exc:
        return render(request, "delete_user.html", principal, identities=text[:2000], result=None,
                      error=exc.user_message, status_code=400)
    return render(request, "delete_user.html", principal, identities="", result=result, error=None)


@router.get("/audit")
def audit_log(request: Request, principal: Principal = Depends(signed_in)):
    q = request.query_params
    filters = {k: q.get(k, "").strip()[:200] for k in ("actor", "action", "target")}
    with session_scope(_url(request)) as s:
        result = audit.entries(s, page=_int(q.get("page")), **{k: v or None for k, v in filters.items()})
    params = {k: v for k, v in filters.items() if v}
    return render(request, "audit.html", principal, result=result, filters=filters,
                  link=lambda **changes: page_link("/audit", params, **changes))
