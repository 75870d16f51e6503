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
    user_message = "That video is too long for me."


class FileTooLarge(UserError):
    user_message = "That file is too large for me."


class FrameTooLarge(UserError):
    user_message = "That video's picture size is larger than I accept."


class DecodeTimeout(UserError):
    user_message = "Decoding that video took too long, so I gave up."


class BadFeedback(UserError):
    user_message = "I couldn't use that reply as feedback."


class ConversationBusy(UserError):
    user_message = "I'm still working on your last message; I'll answer this one right after."
