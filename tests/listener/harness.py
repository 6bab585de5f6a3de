"""A listener as ``mfr listener`` builds it, serving its app over loopback, plus a reader of what
it wrote to the changes topic."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import uvicorn

from listener.app import create_app
from listener.cli import connection_for
from listener.service import Listener
from listener.settings import ListenerSettings
from mfr.bus import Bus, Consumer, open_bus
from mfr.codec import Codec
from mfr.ews import RetryPolicy
from mfr.topics import Topic, topic_name
from simulator import Simulator


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0, what: str = "") -> None:
    """Poll ``condition`` until it holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not met in {timeout_s}s: {what}"
        time.sleep(0.05)


class Changes:
    """Everything the listener wrote to the changes topic, read by a consumer of the test's own."""

    def __init__(self, bus: Bus, topic: str) -> None:
        self._consumer: Consumer = bus.consumer(f"test-{uuid.uuid4().hex[:12]}", [topic])
        self._consumer.seek_to_beginning()
        self._codec = Codec()
        self.events: list[dict[str, Any]] = []
        self.keys: list[str | None] = []

    def read(self) -> list[dict[str, Any]]:
        """Poll what arrived since the last read; all events so far."""
        while records := self._consumer.poll(max_records=5000, timeout_s=0.2):
            for record in records:
                self.events.append(self._codec.decode(record.value, "mfr.replication.ChangeEvent")
                                   .datum)
                self.keys.append(record.key)
        return self.events

    def until(self, condition: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 60.0,
              what: str = "") -> list[dict[str, Any]]:
        """Read until ``condition(events)`` holds."""
        deadline = time.monotonic() + timeout_s
        while not condition(self.read()):
            assert time.monotonic() < deadline, f"not on the bus in {timeout_s}s: {what}"
        return self.events

    def of(self, mailbox: str, event_type: str | None = None) -> list[dict[str, Any]]:
        """The events read so far for one mailbox (of one type)."""
        return [e for e in self.events if e["mailbox"] == mailbox
                and (event_type is None or e["event_type"] == event_type)]

    def close(self) -> None:
        """Leave the group."""
        self._consumer.close()


class Harness:
    """One listener, its HTTP server and a reader of its output."""

    def __init__(self, settings: ListenerSettings, sim: Simulator, *,
                 clock: Callable[[], float] | None, expand: Callable[[str], list[Any]] | None,
                 policy: RetryPolicy) -> None:
        self.settings = settings
        self.sim = sim
        self.bus = open_bus(settings.bus)
        connection = connection_for(settings)
        connection.policy = policy
        self.listener = Listener(settings, self.bus, connection, Codec(), expand=expand,
                                 clock=clock or time.monotonic)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._changes: Changes | None = None
        self.url = f"http://127.0.0.1:{settings.listener.port}"

    @property
    def changes(self) -> Changes:
        """The reader of the changes topic (made on first use)."""
        if self._changes is None:
            self._changes = Changes(self.bus, topic_name(self.settings.bus, Topic.CHANGES))
        return self._changes

    def start(self, wait_ready: bool = True) -> None:
        """Start the listener and serve its app; wait until it has subscribed everything."""
        self.listener.start()
        config = uvicorn.Config(create_app(self.listener), host="127.0.0.1",
                                port=self.settings.listener.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_for(lambda: self._server is not None and self._server.started, 20, "app serving")
        if wait_ready:
            wait_for(self.listener.ready.is_set, 120, "listener subscribed")

    def get(self, path: str) -> httpx.Response:
        """GET from the listener's app."""
        return httpx.get(self.url + path, timeout=10)

    def stop(self) -> None:
        """Stop serving and listening; close the bus."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=20)
        self.listener.stop()
        if self._changes is not None:
            self._changes.close()
        self.bus.close()
