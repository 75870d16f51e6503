"""Errors a user can cause, each with a short human message for the reply.

Front ends catch ``UserError`` and show ``user_message``; anything else is a bug and
is not caught and hidden.
"""

from __future__ import annotations


class MuseChatError(Exception):
    """Base for errors MuseChat raises on purpose."""


class ConfigError(MuseChatError):
    """A setting is wrong; the message names it. Start-up stops with this one line."""


class WeightsMissing(MuseChatError):
    """Model weights for the active profile are not available locally."""


class UserError(MuseChatError):
    """Caused by what a user sent; ``user_message`` is safe to show them."""

    user_message = "Sorry, I couldn't handle that."

    def __init__(self, detail: str | None = None, *, user_message: str | None = None):
        if user_message is not None:
            self.user_message = user_message
        super().__init__(detail or self.user_message)


class UnsupportedMedia(UserError):
    user_message = "That file isn't a video I can read. Try an mp4, webm, mov, mkv or GIF."


class CorruptMedia(UserError):
    user_message = "That video seems to be damaged or cut off, so I couldn't decode it."


class NoVideoStream(UserError):
    user_message = "That file has no picture (audio only?). Please send a video."


class ZeroFrames(UserError):
    user_message = "I couldn't find any frames in that video."


class VideoTooLong(UserError):
    """Longer than ``max_video_seconds``: refused, never silently cut to a prefix."""

    user_message = "That video is too long for me."

    def __init__(self, detail: str | None = None, *, limit_s: float | None = None,
                 user_message: str | None = None):
        if user_message is None and limit_s is not None:
            user_message = (f"That video is too long for me: I take videos up to "
                            f"{_amount(limit_s / 60, 'minute')}. Please send a shorter clip.")
        super().__init__(detail, user_message=user_message)
        self.limit_s = limit_s


class FileTooLarge(UserError):
    user_message = "That file is too large for me."

    def __init__(self, detail: str | None = None, *, limit_mb: float | None = None,
                 user_message: str | None = None):
        if user_message is None and limit_mb is not None:
            user_message = (f"That file is too large for me: I take files up to "
                            f"{_amount(limit_mb, 'MB', plural='MB')}.")
        super().__init__(detail, user_message=user_message)
        self.limit_mb = limit_mb


class FrameTooLarge(UserError):
    user_message = "That video's picture size is larger than I accept."

    def __init__(self, detail: str | None = None, *, width: int | None = None,
                 height: int | None = None, user_message: str | None = None):
        if user_message is None and width is not None and height is not None:
            user_message = (f"That video's picture ({width}x{height}) is larger than I accept. "
                            "Please send a smaller version.")
        super().__init__(detail, user_message=user_message)


def _amount(value: float, unit: str, *, plural: str | None = None) -> str:
    """``30 minutes``, ``1 minute``, ``1.5 minutes``: a limit as people write it."""
    text = f"{value:.3g}" if value < 1000 else f"{value:.0f}"
    return f"{text} {unit if value == 1 else (plural or unit + 's')}"


class DecodeTimeout(UserError):
    user_message = "Decoding that video took too long, so I gave up."


class BadFeedback(UserError):
    user_message = "I couldn't use that reply as feedback."


class ConversationBusy(UserError):
    user_message = "I'm still working on your last message; I'll answer this one right after."
