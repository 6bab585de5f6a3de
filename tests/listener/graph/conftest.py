"""Fixtures for the listener's Graph mode: a TLS simulator of the test's own (its Graph face
POSTs to the real listener app served on loopback; msal gets tokens from its authority), the
embedded bus, and listeners wired as ``mfr listener`` wires them in Graph mode."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from listener.app import create_app
from listener.cli import connection_for
from listener.service import Listener
from listener.settings import GraphListenerSection, ListenerSection, ListenerSettings
from mfr.bus import open_bus
from mfr.codec import Codec
from mfr.ews import ExchangeSettings
from mfr.graph import GraphClient
from mfr.retry import RetryPolicy
from mfr.settings import BusSettings
from mfr.topics import Topic, topic_name
from simulator import Simulator, SimulatorSection
from simulator.settings import GraphSection
from tests.graph.simulated import graph_settings
from tests.kafka.broker import free_port
from tests.listener.harness import Changes, wait_for

_names = itertools.count(1)
FAST = RetryPolicy(attempts=3, first_wait_s=0.05, max_wait_s=0.2, give_up_after_s=10)


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CA for the session's simulators (made once, reused)."""
    return tmp_path_factory.mktemp("graph-tls")


@pytest.fixture
def sim(tls_dir: Path) -> Iterator[Simulator]:
    """A TLS simulator of the test's own, so subscriptions, faults and clock never leak."""
    settings = SimulatorSection(
        port=0,
        tls=True,
        tls_dir=tls_dir,
        keepalive_s=0.5,
        poll_s=0.02,
        graph=GraphSection(validation_timeout_s=3.0),
    )
    with Simulator(settings) as simulator:
        yield simulator


def new_mailboxes(sim: Simulator, count: int) -> list[str]:
    """``count`` fresh mailboxes."""
    run = next(_names)
    made = [f"g{run}x{i:04d}@sim.example" for i in range(count)]
    for address in made:
        sim.control.create_mailbox(address)
    return made


@pytest.fixture
def embedded_bus(tmp_path: Path) -> BusSettings:
    """The embedded bus."""
    return BusSettings(
        embedded_path=tmp_path / "bus.sqlite3", topic_prefix=f"t{uuid.uuid4().hex[:10]}"
    )


def close_client(client: GraphClient) -> None:
    """Close a Graph client (and with it msal's connection to the authority)."""
    client.close()


class GraphHarness:
    """One Graph-mode listener, its HTTP server on loopback and a reader of the changes topic."""

    def __init__(self, settings: ListenerSettings, sim: Simulator, *, port: int) -> None:
        self.settings = settings
        self.sim = sim
        self.port = port
        self.bus = open_bus(settings.bus)
        client = connection_for(settings)
        assert isinstance(client, GraphClient)
        client.policy = FAST
        self.client = client
        self.listener = Listener(
            settings, self.bus, client, Codec(), clock=sim.clock.monotonic, wall_clock=sim.clock.now
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._changes: Changes | None = None
        self._stopped = False
        self.url = f"http://127.0.0.1:{port}"

    @property
    def changes(self) -> Changes:
        """The reader of the changes topic (made on first use)."""
        if self._changes is None:
            self._changes = Changes(self.bus, topic_name(self.settings.bus, Topic.CHANGES))
        return self._changes

    def serve(self) -> None:
        """Serve the app (Graph validates the URL while subscriptions are created)."""
        config = uvicorn.Config(
            create_app(self.listener), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_for(lambda: self._server is not None and self._server.started, 20, "app serving")

    def start(self, wait_ready: bool = True) -> None:
        """Start the listener and its app; wait until the first subscription pass is done."""
        self.listener.start()
        self.serve()
        if wait_ready:
            wait_for(self.listener.ready.is_set, 60, "listener subscribed")

    def get(self, path: str) -> httpx.Response:
        """GET from the listener's app."""
        return httpx.get(self.url + path, timeout=10)

    def post(
        self, path: str, body: bytes, content_type: str = "application/json", **kwargs: Any
    ) -> httpx.Response:
        """POST to the listener's app."""
        return httpx.post(
            self.url + path,
            content=body,
            timeout=30,
            headers={"Content-Type": content_type},
            **kwargs,
        )

    def stop(self) -> None:
        """Stop serving and listening; close the bus and the Graph client (once)."""
        if self._stopped:
            return
        self._stopped = True
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=20)
        self.listener.stop()
        if self._changes is not None:
            self._changes.close()
        close_client(self.client)
        self.bus.close()


Make = Callable[..., GraphHarness]


@pytest.fixture
def make_listener(sim: Simulator) -> Iterator[Make]:
    """Build (and start) Graph-mode listeners; all are stopped at the end of the test."""
    made: list[GraphHarness] = []

    def make(
        bus: BusSettings,
        mailboxes: list[str],
        *,
        start: bool = True,
        port: int | None = None,
        graph: dict[str, Any] | None = None,
        app: dict[str, Any] | None = None,
        **section: Any,
    ) -> GraphHarness:
        port = port or free_port()
        section.setdefault("resubscribe_after_s", 0.5)
        graph_section = {
            "notification_url": f"http://127.0.0.1:{port}",
            "check_every_s": 0.2,
            "serving_wait_s": 10.0,
            **(graph or {}),
        }
        settings = ListenerSettings(
            exchange=ExchangeSettings(api="graph", graph=graph_settings(sim, **(app or {}))),
            bus=bus,
            listener=ListenerSection(
                mailboxes=mailboxes,
                port=port,
                graph=GraphListenerSection(**graph_section),
                **section,
            ),
        )
        harness = GraphHarness(settings, sim, port=port)
        made.append(harness)
        if start:
            harness.start()
        return harness

    yield make
    for harness in made:
        harness.stop()
