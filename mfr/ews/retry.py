"""The retry policy for EWS calls (tenacity): what to retry, how long to wait, when to give up.

exchangelib runs with its FailFast policy, so every failure reaches us; this policy then retries
only what ``mfr.ews.errors`` calls retriable. After ErrorServerBusy it waits exactly the server's
BackOffMilliseconds (through the ``Throttle``, so every request of that budget waits too);
otherwise it backs off exponentially with jitter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from mfr.ews.errors import EwsError, EwsThrottledError, EwsUnavailableError, translate
from mfr.retry import RetryPolicy
from mfr.throttle import Throttle

T = TypeVar("T")

DEFAULT_BACK_OFF_S = 30.0  # when Exchange throttles without saying for how long


def _is_retriable(exc: BaseException) -> bool:
    return isinstance(exc, EwsError) and exc.retriable


def call(
    operation: Callable[[], T],
    *,
    doing: str,
    budget: str,
    throttle: Throttle,
    policy: RetryPolicy,
    on_retry: Callable[[EwsError, int], None] | None = None,
    stopping: threading.Event | None = None,
) -> T:
    """Run a blocking EWS ``operation`` under the throttle, retrying what can pass.

    Raises the ``EwsError`` of the last attempt when it is fatal or patience runs out, or at
    once when ``stopping`` is set during a pause (a stopping service must not wait out a
    retry schedule of minutes: SIGTERM gives it seconds).
    """
    stopping = stopping or threading.Event()
    jitter = wait_random_exponential(multiplier=policy.first_wait_s, max=policy.max_wait_s)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, EwsThrottledError):
            throttle.back_off(budget, error.back_off_s or DEFAULT_BACK_OFF_S)
            return 0.0  # the throttle itself holds the next attempt until the back-off is over
        return float(jitter(state))

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if on_retry is not None and isinstance(error, EwsError):
            on_retry(error, state.attempt_number)

    def attempt() -> T:
        with throttle.request(budget):
            try:
                return operation()
            except EwsError:
                raise
            except Exception as exc:  # translated at this boundary
                raise translate(exc, doing) from exc

    def sleep(seconds: float) -> None:
        if stopping.wait(seconds):
            raise EwsUnavailableError(f"{doing}: stopped while waiting to try again", "Stopping")

    retrying = Retrying(
        retry=retry_if_exception(_is_retriable),
        wait=wait,
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.give_up_after_s),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    return retrying(attempt)
