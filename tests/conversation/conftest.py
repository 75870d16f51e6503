"""Fixtures for conversation tests that run turns with the real engine."""

from __future__ import annotations

import pytest

from tests.conversation.stack import Stack, build_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    return build_stack(tmp_path_factory.mktemp("stack"))


@pytest.fixture
def local_env(stack, monkeypatch) -> Stack:
    """This test's settings: the session's installation on SQLite, no broker (in-process jobs)."""
    stack.apply(monkeypatch)
    return stack
