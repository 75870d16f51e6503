"""Media the pages embed: catalog tracks (audio previews) and video thumbnail strips.

Audio is served as a file response, which answers HTTP range requests (206 Partial
Content), so browsers can seek in a preview without downloading the whole track.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from bots.web.security import settings_of, signed_in
from core.db.models import Track
from core.db.session import session_scope
from core.moderation import actions, thumbnails
from core.moderation.accounts import Principal
from core.moderation.queries import video_of

router = APIRouter()

# Media does not change under a given URL (tracks are immutable, strips keyed by content).
MEDIA_CACHE = "private, max-age=3600"


@router.get("/tracks/{track_id}/audio")
def track_audio(track_id: int, request: Request, _principal: Principal = Depends(signed_in)):
    with session_scope(request.app.state.database_url) as s:
        track = s.get(Track, track_id)
        path = Path(track.path) if track else None
    if path is None or not path.is_file():
        raise actions.NotFound(f"track {track_id}", user_message="That track's audio is not available.")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers={"cache-control": MEDIA_CACHE})


@router.get("/conversations/{conversation_id}/thumbnails.jpg")
async def conversation_thumbnails(conversation_id: int, request: Request,
                                  _principal: Principal = Depends(signed_in)):
    def find():
        with session_scope(request.app.state.database_url) as s:
            video = video_of(s, conversation_id)
            return (Path(video.path), video.content_hash) if video and video.path else None

    found = await run_in_threadpool(find)
    strip = None
    if found:
        strip = await run_in_threadpool(thumbnails.thumbnail_strip, found[0], found[1], settings_of(request))
    if strip is None:
        raise actions.NotFound(f"thumbnails of {conversation_id}", user_message="No thumbnails for this video.")
    return FileResponse(strip, media_type="image/jpeg", headers={"cache-control": MEDIA_CACHE})
