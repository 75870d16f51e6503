"""Slack files: which attachment is the video, how big it is, and fetching it.

Slack serves private files at ``url_private_download`` to a request that carries the bot
token (``Authorization: Bearer xoxb-...``). When that header is lost (a redirect to
another host, a missing ``files:read`` scope, a bot not in the channel) Slack answers
200 with its HTML sign-in page instead of the file, so every download is sniffed and an
HTML page is reported, never handed to the decoder.
"""

from __future__ import annotations

import logging
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from core.errors import FileTooLarge, UnsupportedMedia, UserError

log = logging.getLogger(__name__)

VIDEO_FILETYPES = {"mp4", "mov", "m4v", "webm", "mkv", "avi", "mpg", "mpeg", "ogv", "gif", "3gp", "wmv", "flv"}
CHUNK = 1 << 16
MAX_REDIRECTS = 3
DOWNLOAD_TIMEOUT_S = 60.0


class FileAccessLost(UserError):
    """Slack sent a web page instead of the file: the bot's access to it was lost."""

    user_message = ("Slack sent me a sign-in page instead of your video, so I couldn't read it. "
                    "Please check that I'm a member of this channel and have the `files:read` "
                    "permission, then send it again.")


class DownloadFailed(UserError):
    user_message = "I couldn't download that file from Slack. Please try again in a moment."


@dataclass(frozen=True)
class SlackFile:
    """The parts of a Slack file object this front end uses."""

    id: str
    name: str
    mimetype: str
    filetype: str
    size: int | None
    url: str | None  # url_private_download (or url_private)

    @classmethod
    def from_api(cls, raw: dict) -> SlackFile:
        size = raw.get("size")
        return cls(id=str(raw.get("id") or ""), name=str(raw.get("name") or raw.get("title") or "video"),
                   mimetype=str(raw.get("mimetype") or ""), filetype=str(raw.get("filetype") or "").lower(),
                   size=int(size) if isinstance(size, (int, float)) or (isinstance(size, str) and size.isdigit())
                   else None,
                   url=raw.get("url_private_download") or raw.get("url_private"))

    @property
    def complete(self) -> bool:
        """Whether the event carried what is needed to check and fetch the file."""
        return bool(self.url and self.size is not None and (self.mimetype or self.filetype))

    @property
    def is_video(self) -> bool:
        return self.mimetype.startswith("video/") or self.mimetype == "image/gif" or self.filetype in VIDEO_FILETYPES


def details(client: WebClient, raw: dict) -> SlackFile:
    """The file with its details, asking ``files.info`` when the event left them out.

    Events may carry a file as little more than its id (``file_access: check_file_info``,
    files shared from elsewhere, message shortcuts on old messages)."""
    f = SlackFile.from_api(raw)
    if f.complete or not f.id:
        return f
    try:
        info = client.files_info(file=f.id)
    except SlackApiError as exc:
        log.warning("files.info %s failed: %s", f.id, exc.response.get("error"))
        raise FileAccessLost(f"files.info: {exc.response.get('error')}") from None
    return SlackFile.from_api({**raw, **(info.get("file") or {})})


def choose_video(client: WebClient, files: list[dict]) -> SlackFile:
    """The first video among a message's files; UnsupportedMedia when none is a video."""
    found = [details(client, raw) for raw in files]
    for f in found:
        if f.is_video:
            return f
    names = ", ".join(f.name for f in found) or "that file"
    raise UnsupportedMedia(f"no video among {names}")


def check_size(f: SlackFile, max_upload_mb: float) -> None:
    """Refuse a file larger than the limit from its metadata, before downloading anything."""
    if f.size is not None and f.size > max_upload_mb * 1024 * 1024:
        raise FileTooLarge(f"{f.name}: {f.size} bytes", limit_mb=max_upload_mb)


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but send the bot token only to the host it was meant for."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


_opener = urllib.request.build_opener(_SameHostRedirects)


def looks_like_html(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<!--", b"<body", b"<meta", b"<script"))


def download(f: SlackFile, token: str, *, max_upload_mb: float, folder: Path) -> Path:
    """Fetch ``f`` into a new file under ``folder`` with the bot token; returns its path.

    Raises FileAccessLost for an HTML page, FileTooLarge when the body outgrows the limit
    (the metadata may understate it), DownloadFailed for network and HTTP errors. The
    caller deletes the file."""
    if not f.url:
        raise FileAccessLost(f"{f.id}: no download URL")
    limit = int(max_upload_mb * 1024 * 1024)
    req = urllib.request.Request(f.url, headers={"Authorization": f"Bearer {token}", "User-Agent": "musechat"})
    folder.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.NamedTemporaryFile(dir=folder, prefix=".slack-", suffix=Path(f.name).suffix[:8], delete=False)
    path = Path(tmp.name)
    try:
        with tmp, _opener.open(req, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            ctype = (resp.headers.get("Content-Type") or "").lower()
            first = resp.read(CHUNK)
            if "text/html" in ctype or looks_like_html(first[:512]):
                raise FileAccessLost(f"{f.id}: got {ctype or 'an HTML page'} from {resp.geturl()}")
            size = len(first)
            tmp.write(first)
            while block := resp.read(CHUNK):
                size += len(block)
                if size > limit:
                    raise FileTooLarge(f"{f.name}: over {limit} bytes while downloading", limit_mb=max_upload_mb)
                tmp.write(block)
        if size == 0:
            raise DownloadFailed(f"{f.id}: empty body")
        return path
    except urllib.error.HTTPError as exc:
        path.unlink(missing_ok=True)
        if exc.code in (401, 403):
            raise FileAccessLost(f"{f.id}: HTTP {exc.code}") from None
        raise DownloadFailed(f"{f.id}: HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        path.unlink(missing_ok=True)
        raise DownloadFailed(f"{f.id}: {exc}") from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
