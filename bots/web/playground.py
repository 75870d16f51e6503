"""The playground: try MuseChat in the browser, through the same ConversationService as the
bots (platform ``web``, the signed-in account as the user).

A page whose turn is still being answered reloads itself every few seconds (a meta
refresh: the pages run no script).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from bots.web.app import WebApp, render
from bots.web.security import csrf_form, csrf_upload, signed_in
from core.conversation.preferences import EmptyFeedback
from core.db.models import Conversation, Pick, Turn
from core.db.session import session_scope
from core.errors import FileTooLarge, UserError
from core.moderation.accounts import Principal
from core.moderation.actions import NotFound

router = APIRouter()

PLATFORM = "web"
RECENT = 10
REACTIONS = ("like", "dislike", "more_like_this")


def _web(request: Request) -> WebApp:
    return request.app.state.web


def _recent(request: Request, principal: Principal) -> list[Conversation]:
    with session_scope(_web(request).database_url) as s:
        return list(s.scalars(select(Conversation).where(Conversation.platform == PLATFORM,
                                                         Conversation.user_id == principal.name)
                              .order_by(Conversation.created_at.desc(), Conversation.id.desc()).limit(RECENT)))


def _check_owner(request: Request, conversation_id: int, principal: Principal) -> None:
    """Each account sees only its own playground conversations here (the console shows all)."""
    with session_scope(_web(request).database_url) as s:
        owner = s.execute(select(Conversation.platform, Conversation.user_id)
                          .where(Conversation.id == conversation_id)).first()
    if owner is None or tuple(owner) != (PLATFORM, principal.name):
        raise NotFound(f"playground conversation {conversation_id}")


@router.get("/playground")
def playground(request: Request, principal: Principal = Depends(signed_in)):
    return render(request, "playground.html", principal, recent=_recent(request, principal), error=None)


@router.post("/playground")
async def upload(request: Request, principal: Principal = Depends(signed_in),
                 form: FormData = Depends(csrf_upload)):
    web = _web(request)
    video = form.get("video")
    note = str(form.get("note") or "")
    try:
        if not isinstance(video, UploadFile) or not video.filename:
            raise UserError("no file", user_message="Choose a video file first.")
        limit = int(web.settings.max_upload_mb * 1024 * 1024)
        data = await video.read(limit + 1)
        if len(data) > limit:
            raise FileTooLarge("upload over the limit", limit_mb=web.settings.max_upload_mb)
        handle = await run_in_threadpool(
            lambda: web.service.start(data, platform=PLATFORM, user_id=principal.name, user_name=principal.name,
                                      filename=video.filename, note=note))
    except UserError as exc:
        recent = await run_in_threadpool(_recent, request, principal)
        return render(request, "playground.html", principal, recent=recent, error=exc.user_message,
                      status_code=400)
    return RedirectResponse(f"/playground/{handle.conversation_id}", status_code=303)


def _conversation_page(request: Request, conversation_id: int, principal: Principal, *,
                       error: str | None = None, status_code: int = 200):
    turns = _web(request).service.conversation(conversation_id)
    pending = any(not t.finished for t in turns)
    return render(request, "playground_conversation.html", principal, conversation_id=conversation_id,
                  turns=turns, pending=pending, error=error, status_code=status_code)


@router.get("/playground/{conversation_id}")
def conversation(conversation_id: int, request: Request, principal: Principal = Depends(signed_in)):
    _check_owner(request, conversation_id, principal)
    return _conversation_page(request, conversation_id, principal)


@router.post("/playground/{conversation_id}/reply")
def reply(conversation_id: int, request: Request, principal: Principal = Depends(signed_in),
          form: FormData = Depends(csrf_form)):
    _check_owner(request, conversation_id, principal)
    try:
        _web(request).service.reply(conversation_id, str(form.get("feedback") or ""))
    except EmptyFeedback as exc:
        return _conversation_page(request, conversation_id, principal, error=exc.user_message, status_code=400)
    return RedirectResponse(f"/playground/{conversation_id}", status_code=303)


@router.post("/playground/picks/{pick_id}/react")
def react(pick_id: int, request: Request, principal: Principal = Depends(signed_in),
          form: FormData = Depends(csrf_form)):
    with session_scope(_web(request).database_url) as s:
        conversation_id = s.scalar(select(Turn.conversation_id).join(Pick).where(Pick.id == pick_id))
    if conversation_id is None:
        raise NotFound(f"pick {pick_id}")
    _check_owner(request, conversation_id, principal)
    kind = str(form.get("kind") or "")
    if kind not in REACTIONS:
        raise UserError(f"reaction {kind!r}", user_message="Unknown reaction.")
    _web(request).service.react(pick_id, kind, user_id=principal.name)
    return RedirectResponse(f"/playground/{conversation_id}", status_code=303)
