"""``patiently``: a service's first contact with the bus waits out what is retriable, only that,
and only as long as it is told (the real broker case is in test_kafka.py)."""

from __future__ import annotations

import threading

import pytest

from mfr.bus.startup import patiently
from mfr.errors import BusError, BusUnavailableError


def test_a_fatal_error_ends_the_start_at_once() -> None:
    calls: list[int] = []

    def refused() -> None:
        calls.append(1)
        raise BusError("connecting to Kafka: SASL authentication failed")

    with pytest.raises(BusError, match="SASL"):
        patiently("connecting", refused, patience_s=60)
    assert len(calls) == 1


def test_an_outage_is_waited_out_and_a_stop_ends_the_wait() -> None:
    outcomes: list[BusUnavailableError | str] = [BusUnavailableError("down"), "up"]

    def flaky() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert patiently("connecting", flaky, patience_s=60) == "up"
    stop = threading.Event()
    stop.set()
    with pytest.raises(BusUnavailableError):
        patiently("connecting", lambda: (_ for _ in ()).throw(BusUnavailableError("down")),
                  patience_s=60, stop=stop)
