"""HTTP mode checks every request's signature: unsigned, stale or wrongly signed requests
get 401 and change nothing; a signed one is acknowledged at once."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from sqlalchemy import func, select

from core.db.models import Conversation
from core.db.session import session_scope
from tests.bots.slack.slack_requests import mention, post, signed_headers


@pytest.fixture
def running(serve, recorded_service, mock_slack, clip):
    run = serve(recorded_service)
    run.video = mock_slack.host_file("clip.mp4", clip)
    return run


def _conversations(service) -> int:
    with session_scope(service.url) as s:
        return s.scalar(select(func.count()).select_from(Conversation))


@pytest.mark.parametrize("how", ["unsigned", "wrong secret", "stale", "tampered"])
def test_bad_signatures_get_401_and_do_nothing(running, mock_slack, how):
    event = mention("calm please", files=[running.video])
    if how == "unsigned":
        status, _ = running.slack.event(event, sign=False)
    elif how == "wrong secret":
        status, _ = running.slack.event(event, secret="not-the-secret")
    elif how == "stale":
        status, _ = running.slack.event(event, timestamp=int(time.time()) - 6 * 60)
    else:  # signed, then changed on the way
        body = json.dumps({"type": "event_callback", "event_id": "Ev1", "team_id": "T1", "event": event})
        status, _ = post(running.slack.url, body.replace("calm", "loud"), "application/json", signed_headers(body))
    assert status == 401
    running.settle()
    time.sleep(0.3)  # anything a wrongly accepted request started would show by now
    assert mock_slack.calls == [] and mock_slack.downloads == []
    assert _conversations(running.service) == 0


def test_signed_event_is_acknowledged_and_queued(running, mock_slack):
    t0 = time.perf_counter()
    status, _ = running.slack.event(mention(files=[running.video]))
    assert status == 200 and time.perf_counter() - t0 < 3.0
    running.settle()
    assert _conversations(running.service) == 1


def test_health_check_and_unknown_paths(running):
    with urllib.request.urlopen(running.url + "/healthz", timeout=5) as resp:
        assert resp.status == 200
    status, _ = post(running.url + "/elsewhere", "{}", "application/json", {})
    assert status == 404
