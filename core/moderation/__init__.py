"""Moderation: the platform-free logic behind the moderation console.

* :mod:`~core.moderation.accounts` — moderator accounts (argon2 hashes), sign-in with
  rate limiting, server-side sessions with their CSRF tokens;
* :mod:`~core.moderation.queries` — the conversation list (filters, counts, pages) and
  the data of one conversation's page;
* :mod:`~core.moderation.actions` — flag / unflag, delete a conversation, delete a
  user's data on every platform, each written to the audit log;
* :mod:`~core.moderation.export` — CSV and JSON of a filtered set;
* :mod:`~core.moderation.retention` — the periodic sweep of old conversations and media;
* :mod:`~core.moderation.thumbnails` — a video's thumbnail strip, decoded in a child
  process with limits and cached.

Everything takes a database URL (``None``: the configured database) and writes the
audit log through :func:`~core.moderation.audit.record`.
"""
