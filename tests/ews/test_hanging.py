"""Long-lived requests (streaming notifications): they wait out back-offs without holding a
request slot, and the HTTP session pool has room for them besides the ordinary requests."""

from __future__ import annotations

import threading
import time

from mfr.ews import EwsConnection, ExchangeSettings, Throttle


def test_waiting_out_a_back_off_takes_no_request_slot() -> None:
    """A hanging request waits for the back-off, even while every request slot is taken, and
    does not need one of those slots to go."""
    throttle = Throttle(1)
    throttle.back_off("svc", 0.3)
    started = time.monotonic()
    waited: list[float] = []

    def hang() -> None:
        throttle.wait_out_back_off("svc")
        waited.append(time.monotonic())

    waiter = threading.Thread(target=hang)
    with throttle.request("svc"):  # the only slot, held until the waiter is through
        waiter.start()
        waiter.join(timeout=5)
        assert not waiter.is_alive()
    assert waited[0] - started >= 0.29


def test_no_wait_without_a_back_off() -> None:
    """A budget that was never told to back off lets a hanging request go at once."""
    started = time.monotonic()
    Throttle(1).wait_out_back_off("svc")
    assert time.monotonic() - started < 0.1


def test_the_session_pool_makes_room_for_hanging_connections() -> None:
    """The exchangelib configuration allows ordinary plus hanging connections."""
    settings = ExchangeSettings(
        service_account="svc", auth="basic", password="pw",  # type: ignore[arg-type]
        endpoint="http://127.0.0.1:1/EWS/Exchange.asmx",  # type: ignore[arg-type]
        max_concurrent_requests=4,
    )
    plain = EwsConnection(settings)
    roomy = EwsConnection(settings, hanging_connections=10)
    assert plain._config is not None
    assert roomy._config is not None
    assert plain._config.max_connections == 4
    assert roomy._config.max_connections == 14
