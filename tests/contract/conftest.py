"""Every test in this folder runs once per bus backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mfr.bus import Bus
from tests.contract.backends import Backend, embedded, kafka, kafka_sasl_ssl


@pytest.fixture(
    params=[
        "embedded",
        pytest.param("kafka", marks=pytest.mark.kafka),
        pytest.param("kafka-sasl-ssl", marks=pytest.mark.kafka),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The backend under test: the embedded bus, Kafka, and Kafka over SASL_SSL with SCRAM."""
    if request.param == "embedded":
        return embedded(tmp_path / "bus.sqlite3")
    if request.param == "kafka-sasl-ssl":
        return kafka_sasl_ssl(request.getfixturevalue("kafka_sasl_ssl"))
    return kafka(request.getfixturevalue("kafka_bootstrap"))


@pytest.fixture
def bus(backend: Backend) -> Iterator[Bus]:
    """An open connection to the backend under test."""
    with backend.open() as opened:
        yield opened


@pytest.fixture
def topic(backend: Backend, bus: Bus) -> str:
    """A topic of the test's own, with three partitions."""
    return backend.new_topic(bus)
