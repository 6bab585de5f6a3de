"""The retry policy and throttle: honour Exchange's back-off, retry only what can pass."""

from __future__ import annotations

import threading
import time

import pytest
from exchangelib import errors as ews
from pydantic import AnyHttpUrl, SecretStr

from mfr.ews.connection import EwsConnection
from mfr.ews.errors import (
    EwsAccessDeniedError,
    EwsSyncStateInvalidError,
    EwsThrottledError,
    EwsUnavailableError,
    translate,
)
from mfr.ews.retry import call
from mfr.ews.settings import ExchangeSettings
from mfr.retry import RetryPolicy
from mfr.throttle import Throttle

FAST = RetryPolicy(attempts=4, first_wait_s=0.001, max_wait_s=0.01)


class Flaky:
    """An EWS operation failing with the given errors before it succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[float] = []

    def __call__(self) -> str:
        self.calls.append(time.monotonic())
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def run(operation: Flaky, throttle: Throttle | None = None) -> str:
    return call(operation, doing="GetItem for a@x.com", budget="svc",
                throttle=throttle or Throttle(10), policy=FAST)


def test_no_request_goes_out_before_the_servers_back_off_has_elapsed() -> None:
    """After ErrorServerBusy with BackOffMilliseconds=300, the retry waits at least 0.3 s."""
    operation = Flaky(ews.ErrorServerBusy("busy", back_off=0.3))
    assert run(operation) == "ok"
    assert operation.calls[1] - operation.calls[0] >= 0.3


def test_a_back_off_holds_every_request_of_the_budget() -> None:
    """Other threads using the same budget also wait for the back-off, not just the retry."""
    throttle = Throttle(10)
    throttle.back_off("svc", 0.3)
    started = time.monotonic()
    other = Flaky()
    thread = threading.Thread(target=run, args=(other, throttle))
    thread.start()
    thread.join()
    assert other.calls[0] - started >= 0.29
    assert throttle.back_off_count("svc") == 1


def test_other_budgets_are_not_held() -> None:
    """A back-off of one budget does not delay another."""
    throttle = Throttle(10)
    throttle.back_off("other-mailbox", 5)
    started = time.monotonic()
    assert run(Flaky(), throttle) == "ok"
    assert time.monotonic() - started < 1


def test_passing_failures_are_retried_until_success() -> None:
    """Timeouts and transient server errors are retried."""
    operation = Flaky(ews.ErrorTimeoutExpired("slow"), ConnectionError("reset"))
    assert run(operation) == "ok"
    assert len(operation.calls) == 3


def test_fatal_failures_are_not_retried() -> None:
    """Missing impersonation rights fail at once, classified, naming the operation."""
    operation = Flaky(ews.ErrorImpersonateUserDenied("no right to impersonate a@x.com"))
    expected = r"GetItem for a@x\.com: ErrorImpersonateUserDenied"
    with pytest.raises(EwsAccessDeniedError, match=expected):
        run(operation)
    assert len(operation.calls) == 1


def test_patience_runs_out_with_the_last_error() -> None:
    """When every attempt fails, the last classified error is raised."""
    operation = Flaky(*[ews.ErrorInternalServerTransientError("down")] * 10)
    with pytest.raises(EwsUnavailableError):
        run(operation)
    assert len(operation.calls) == FAST.attempts


def test_concurrency_per_budget_is_bounded() -> None:
    """No more than max_concurrent requests of one budget run at once."""
    throttle = Throttle(2)
    running, peak = 0, 0
    lock = threading.Lock()

    def slow() -> str:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return "ok"

    threads = [
        threading.Thread(
            target=call, args=(slow,),
            kwargs={"doing": "x", "budget": "svc", "throttle": throttle, "policy": FAST},
        )
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 2


def test_translation_keeps_the_servers_back_off_and_classifies() -> None:
    """Exchange's error codes map onto retriable and fatal kinds."""
    busy = translate(ews.ErrorServerBusy("busy", back_off=12.5), "Subscribe")
    assert isinstance(busy, EwsThrottledError)
    assert busy.back_off_s == 12.5
    assert busy.retriable
    stale = translate(ews.ErrorInvalidSyncStateData("bad"), "SyncFolderItems")
    assert isinstance(stale, EwsSyncStateInvalidError)
    assert not stale.retriable


def test_stop_ends_a_servers_back_off_at_once() -> None:
    """SIGTERM must not wait out ErrorServerBusy's BackOffMilliseconds (minutes, at worst): a
    request held by the throttle gives up as soon as the connection is stopped."""
    settings = ExchangeSettings(endpoint=AnyHttpUrl("https://ews.invalid/EWS/Exchange.asmx"),
                                auth="basic", service_account="svc", password=SecretStr("pw"))
    connection = EwsConnection(settings, policy=FAST)
    connection.throttle.back_off(connection.budget("a@x.com"), 120.0)
    outcome: list[BaseException | str] = []

    def sync() -> None:
        try:
            outcome.append(connection.call("a@x.com", "SyncFolderItems", lambda: "synced"))
        except EwsUnavailableError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=sync)
    thread.start()
    time.sleep(0.2)
    stopped = time.monotonic()
    connection.stop()
    thread.join(timeout=5)
    assert time.monotonic() - stopped < 1.0
    assert isinstance(outcome[0], EwsUnavailableError), outcome
