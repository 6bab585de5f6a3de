"""The Graph client's boundary: errors classified, Retry-After honoured per mailbox, links kept
on Graph's host, pages followed. Unit tests with a fake transport; the simulator tests the wire."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from mfr.graph.client import GraphClient
from mfr.graph.errors import (
    GraphAccessDeniedError,
    GraphNotFoundError,
    GraphRequestRejectedError,
    GraphSyncResetError,
    GraphUnavailableError,
)
from mfr.graph.settings import GraphSettings
from mfr.graph.tokens import TokenSource
from mfr.retry import RetryPolicy
from mfr.throttle import Throttle

SETTINGS = GraphSettings(tenant_id="t", client_id="c", client_secret="s")  # type: ignore[arg-type]
FAST = RetryPolicy(attempts=4, first_wait_s=0.001, max_wait_s=0.01)


class FixedToken(TokenSource):
    def __init__(self) -> None:
        pass

    def token(self) -> str:
        return "token"

    def close(self) -> None:
        pass


def error(status: int, code: str, **headers: str) -> httpx.Response:
    body = {"error": {"code": code, "message": f"{code} happened"}}
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


def client(answers: list[httpx.Response], seen: list[httpx.Request], **kw: Any) -> GraphClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    return GraphClient(
        SETTINGS, tokens=FixedToken(), policy=FAST, transport=httpx.MockTransport(handler), **kw
    )


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (error(401, "InvalidAuthenticationToken"), GraphAccessDeniedError),
        (error(403, "ErrorAccessDenied"), GraphAccessDeniedError),
        (error(404, "ErrorItemNotFound"), GraphNotFoundError),
        (error(410, "Gone"), GraphSyncResetError),
        (error(400, "syncStateNotFound"), GraphSyncResetError),
        (error(400, "resyncRequired"), GraphSyncResetError),
        (error(400, "BadRequest"), GraphRequestRejectedError),
    ],
)
def test_fatal_answers_are_classified_and_not_retried(
    answer: httpx.Response, kind: type[Exception]
) -> None:
    seen: list[httpx.Request] = []
    graph = client([answer], seen)
    with pytest.raises(kind, match="reading Inbox"):
        graph.get_json("users/a/mailFolders/inbox", mailbox="a@x", doing="reading Inbox")
    assert len(seen) == 1
    assert seen[0].headers["authorization"] == "Bearer token"


def test_passing_failures_are_retried_until_they_pass() -> None:
    seen: list[httpx.Request] = []
    ok = httpx.Response(200, json={"id": "1"})
    graph = client([error(503, "ServiceUnavailable"), error(500, "InternalServerError"), ok], seen)
    assert graph.get_json("users/a", mailbox="a@x", doing="d") == {"id": "1"}
    assert len(seen) == 3


def test_unavailable_to_the_end_raises_the_last_error() -> None:
    seen: list[httpx.Request] = []
    graph = client([error(503, "ServiceUnavailable")] * 4, seen)
    with pytest.raises(GraphUnavailableError):
        graph.get_json("users/a", mailbox="a@x", doing="d")
    assert len(seen) == FAST.attempts


def test_retry_after_pauses_the_whole_mailbox() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    throttle = Throttle(4, clock=lambda: now[0], sleep=sleep)
    seen: list[httpx.Request] = []
    answers = [
        error(429, "ApplicationThrottled", **{"Retry-After": "7"}),
        httpx.Response(200, json={}),
    ]
    graph = client(answers, seen, throttle=throttle)
    graph.get_json("users/a", mailbox="A@x", doing="d")
    assert slept == [7.0]
    assert throttle.back_off_count("a@x") == 1
    assert throttle.backing_off("b@x") == 0.0


def test_links_off_graphs_host_are_refused() -> None:
    seen: list[httpx.Request] = []
    graph = client([], seen)
    with pytest.raises(GraphRequestRejectedError, match="off Graph's host"):
        graph.get_json("https://evil.example/v1.0/steal", mailbox="a@x", doing="d")
    assert seen == []


def test_pages_follow_next_links_to_the_delta_link() -> None:
    seen: list[httpx.Request] = []
    base = "https://graph.microsoft.com/v1.0/users/a/mailFolders/inbox/messages/delta"
    answers = [
        httpx.Response(200, json={"value": [1], "@odata.nextLink": base + "?$skiptoken=x"}),
        httpx.Response(200, json={"value": [2], "@odata.deltaLink": base + "?$deltatoken=y"}),
    ]
    graph = client(answers, seen)
    pages = list(graph.pages(base, mailbox="a@x", doing="d", params={"$select": "id"}))
    assert [p["value"] for p in pages] == [[1], [2]]
    assert pages[-1]["@odata.deltaLink"].endswith("deltatoken=y")
    assert "select" in str(seen[0].url)
    assert "select" not in str(seen[1].url)


def test_settings_want_exactly_one_credential() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        GraphSettings(tenant_id="t", client_id="c")


def test_stop_ends_a_retry_after_wait_at_once() -> None:
    """A 429's Retry-After (two minutes here) holds the mailbox's requests, but not a stopping
    service: the waiting call gives up as soon as the client is stopped."""
    seen: list[httpx.Request] = []
    answers = [error(429, "ApplicationThrottled", **{"Retry-After": "120"}),
               httpx.Response(200, json={})]
    graph = client(answers, seen)
    outcome: list[BaseException | dict[str, Any]] = []

    def read() -> None:
        try:
            outcome.append(graph.get_json("users/a", mailbox="a@x", doing="reading a"))
        except GraphUnavailableError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    time.sleep(0.3)
    stopped = time.monotonic()
    graph.stop()
    thread.join(timeout=5)
    assert time.monotonic() - stopped < 1.0
    assert isinstance(outcome[0], GraphUnavailableError), outcome
    assert len(seen) == 1
