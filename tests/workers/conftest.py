"""The end-to-end stack for worker tests: the session's catalog in PostgreSQL, a real
Redis, and a real Celery worker consuming the ``gpu`` and ``cpu`` queues."""

from __future__ import annotations

import pytest

from tests.conversation.stack import Stack, build_stack, postgres_copy


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    return build_stack(tmp_path_factory.mktemp("stack"))


@pytest.fixture(scope="session")
def stack_pg(stack, postgres_server) -> str:
    return postgres_copy(stack, postgres_server)


@pytest.fixture
def queue_env(stack, stack_pg, redis_server, monkeypatch) -> Stack:
    """This test's settings: the stack on PostgreSQL with the Redis broker."""
    stack.apply(monkeypatch, MUSECHAT_DATABASE_URL=stack_pg, MUSECHAT_BROKER_URL=redis_server.url)
    return stack


@pytest.fixture(scope="module")
def celery_worker(stack, stack_pg, redis_server):
    """A real worker in this process (two threads, so a conversation's later turn can be
    picked up while its earlier one runs), shared by a module's tests."""
    import celery.contrib.testing.tasks  # noqa: F401  (start_worker expects celery.ping)
    from celery.contrib.testing.worker import start_worker

    from core.config import Settings
    from workers import tasks
    from workers.celery_app import create_app

    with pytest.MonkeyPatch.context() as mp:
        for key, value in stack.env(MUSECHAT_DATABASE_URL=stack_pg, MUSECHAT_BROKER_URL=redis_server.url).items():
            mp.setenv(key, value)
        app = create_app(Settings())
        tasks.reset_service()
        tasks.get_service(app)  # with the stack's settings, whatever test is running later
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False,
                      queues=["gpu", "cpu"], shutdown_timeout=60):
        yield app
    tasks.reset_service()
