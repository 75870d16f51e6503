"""Conversations: the platform-free turn logic every front end and worker uses.

``service.ConversationService`` is the way in; ``preferences`` reads feedback text into
filters and a preference text; ``dispatch`` turns a turn into a job.
"""

from core.conversation.deadline import TurnTimeout
from core.conversation.dispatch import DispatchError, InProcessDispatcher, TurnNotReady
from core.conversation.preferences import EmptyFeedback, MAX_FEEDBACK_CHARS, accumulate, parse_feedback
from core.conversation.service import (
    ConversationNotFound,
    ConversationService,
    ForgetReport,
    PickNotFound,
    PickView,
    TurnHandle,
    TurnView,
)

__all__ = [
    "MAX_FEEDBACK_CHARS", "ConversationNotFound", "ConversationService", "DispatchError", "EmptyFeedback",
    "ForgetReport", "InProcessDispatcher", "PickNotFound", "PickView", "TurnHandle", "TurnNotReady",
    "TurnTimeout", "TurnView", "accumulate", "parse_feedback",
]
