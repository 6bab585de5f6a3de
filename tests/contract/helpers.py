"""Small helpers the contract tests share."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Sequence

from mfr.bus import Bus, Consumer, Record
from tests.contract.backends import Backend


def group() -> str:
    """A consumer group name no other test uses."""
    return f"group-{uuid.uuid4().hex[:12]}"


def produce(bus: Bus, topic: str, items: Sequence[tuple[str, bytes]]) -> None:
    """Produce ``(key, value)`` pairs and flush."""
    with bus.producer() as producer:
        for key, value in items:
            producer.produce(topic, key, value)
        producer.flush()


def drain(consumer: Consumer, count: int, timeout_s: float = 60.0) -> list[Record]:
    """Poll until ``count`` records came (or the time is up), then poll once more for extras."""
    records: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < count and time.monotonic() < deadline:
        records += consumer.poll(max_records=5000, timeout_s=0.5)
    records += consumer.poll(timeout_s=0.5)
    return records


def values(records: Sequence[Record]) -> list[int]:
    """The integer values of records produced by ``numbered``."""
    return [int(r.value) for r in records]


def numbered(count: int, keys: int = 5, start: int = 0) -> list[tuple[str, bytes]]:
    """``count`` records spread over ``keys`` mailboxes, values counting up from ``start``."""
    return [(f"mailbox-{i % keys}@example.com", str(i).encode()) for i in range(start, count)]


def start_worker(backend: Backend, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``tests.contract.worker`` with ``args``; return it once it has reported its line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.contract.worker", *args],
        env=backend.worker_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line:
        process.kill()
        raise AssertionError(f"worker failed: {process.communicate()[1][-3000:]}")
    return process, line


def kill(process: subprocess.Popen[str]) -> None:
    """SIGKILL: no cleanup, no commit, no goodbye to the group."""
    process.kill()
    process.wait(timeout=10)
