"""The web front end: the moderation console and the playground (``musechat serve web``).

Importing this package loads FastAPI, Jinja2 and ``core`` only — never torch; the
playground's jobs load the models lazily, in-process only when no broker is configured.
"""

from bots.web.app import create_app

__all__ = ["create_app"]
