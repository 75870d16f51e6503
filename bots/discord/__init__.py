"""The Discord front end: videos in, music picks in a thread, refinement by reply or button.

A thin adapter over :class:`core.conversation.ConversationService`; the heavy work runs
in the workers behind the queue, so this package never imports torch. One feature per
module, each wiring itself into the bot with ``register(bot)``:

* ``recommend`` — ``/recommend``, a mention with a video, the "Recommend music" menu;
* ``threads`` — a text reply in a conversation's thread is the next turn;
* ``picks`` — the picks embed, its persistent buttons and the "Refine…" form;
* ``delivery`` — posts finished turns (each exactly once, also after a restart);
* ``privacy`` — ``/musechat forget-me``;
* ``server_config`` — ``/musechat config``: channels, rate limit, upload size, shared threads.

``bot.MuseChatBot`` ties them together; ``cli`` adds ``musechat serve discord``.
"""
