"""SQL storage: models, the one session factory, and schema migrations."""

from core.db.models import (  # noqa: F401
    AuditLog,
    Base,
    Conversation,
    Flag,
    Pick,
    PlatformEvent,
    Reaction,
    Track,
    Turn,
    Video,
)
from core.db.session import get_engine, session_scope  # noqa: F401
