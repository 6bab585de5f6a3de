"""Throttling budgets and injected faults, surfacing in exchangelib as its own exceptions."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from exchangelib.errors import (
    ErrorExceededConnectionCount,
    ErrorExceededSubscriptionCount,
    ErrorInternalServerTransientError,
    ErrorServerBusy,
)

from simulator import Simulator
from simulator.settings import Limits
from tests.simulator.conftest import AccountFactory
from tests.simulator.raw import basic, code, envelope

GET_INBOX = (
    "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
    "<m:FolderIds><t:DistinguishedFolderId Id='inbox'/></m:FolderIds></m:GetFolder>"
)


@pytest.fixture
def tight(sim: Simulator) -> Iterator[Simulator]:
    """The simulator with small budgets for the duration of a test."""
    saved = sim.throttle.limits
    sim.throttle.limits = Limits(max_concurrency=1, hanging_connections=1, max_subscriptions=2)
    sim.ews.settings = sim.ews.settings.model_copy(update={"limits": sim.throttle.limits})
    try:
        yield sim
    finally:
        sim.throttle.limits = saved
        sim.ews.settings = sim.ews.settings.model_copy(update={"limits": saved})


def test_injected_throttling_is_error_server_busy_with_back_off(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """ErrorServerBusy arrives as a SOAP fault with BackOffMilliseconds, which exchangelib turns
    into ErrorServerBusy(back_off=seconds) (ews-throttling-in-exchange.md)."""
    acc = account(smtp)
    acc.inbox.refresh()
    sim.faults.throttle(next_n=1, back_off_ms=1500)
    with pytest.raises(ErrorServerBusy) as caught:
        acc.inbox.refresh()
    assert caught.value.back_off == 1.5
    assert sim.request_log.entries(mailbox=smtp)[-1].result == "ErrorServerBusy"
    acc.inbox.refresh()


def test_concurrency_budget_answers_server_busy(tight: Simulator, smtp: str) -> None:
    """More concurrent requests than EWSMaxConcurrency on one budget get ErrorServerBusy."""
    tight.faults.latency(0.4)
    results: list[str] = []
    headers = {"Authorization": basic(tight.service_account, tight.service_password)}

    def call() -> None:
        response = httpx.post(
            tight.endpoint_url, content=envelope(GET_INBOX, impersonate=smtp), headers=headers
        )
        results.append(code(response))

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert "NoError" in results
    assert "ErrorServerBusy" in results


def test_subscription_budget(tight: Simulator, smtp: str, account: AccountFactory) -> None:
    """Past EWSMaxSubscriptions live subscriptions, Subscribe fails with
    ErrorExceededSubscriptionCount (handling-notification-related-errors-in-ews-in-exchange.md)."""
    inbox = account(smtp).inbox
    inbox.subscribe_to_pull()
    inbox.subscribe_to_pull()
    with pytest.raises(ErrorExceededSubscriptionCount):
        inbox.subscribe_to_pull()


def test_hanging_connection_budget(tight: Simulator, smtp: str, account: AccountFactory) -> None:
    """Past HangingConnectionLimit (charged to the impersonated mailbox), GetStreamingEvents fails
    with ErrorExceededConnectionCount; a dropped connection gives its slot back."""
    tight.add_service_account("holder@sim.example", "pw", impersonate={"*"})
    holder = account(smtp, user="holder@sim.example", password="pw").inbox
    held = holder.subscribe_to_streaming()
    thread = threading.Thread(target=_hold, args=(holder, held), daemon=True)
    thread.start()
    safety = threading.Timer(20, tight.faults.drop_streams, args=(5,))
    safety.start()
    try:
        _wait(lambda: tight.throttle.open_streams(smtp) == 1)
        inbox = account(smtp).inbox
        mine = inbox.subscribe_to_streaming()
        with pytest.raises(ErrorExceededConnectionCount):
            list(inbox.get_streaming_events(mine, connection_timeout=1))
        tight.faults.drop_streams(1)
        thread.join(timeout=10)
        assert not thread.is_alive()
        _wait(lambda: tight.throttle.open_streams(smtp) == 0)
    finally:
        safety.cancel()


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _hold(inbox: Any, subscription: str) -> None:
    with contextlib.suppress(Exception):
        for _ in inbox.get_streaming_events(subscription, connection_timeout=1):
            pass


def test_http_errors_and_dropped_streams(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """An injected 503 reaches exchangelib (which reports it as ErrorServerBusy when failing fast);
    the next request succeeds."""
    acc = account(smtp)
    acc.inbox.refresh()
    sim.faults.http_error(503, next_n=1)
    with pytest.raises((ErrorServerBusy, ErrorInternalServerTransientError)):
        acc.inbox.refresh()
    assert 503 in [e.status for e in sim.request_log.entries()][-3:]
    acc.inbox.refresh()
