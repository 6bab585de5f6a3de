"""Every server socket we own turns Nagle's algorithm off on the connections it accepts.

With Nagle on, an answer written in two pieces (headers, body) waits for the client's delayed
ACK: about 40 ms per HTTP answer, which once capped the whole pipeline at 16 sync cycles a second
(issue 13). asyncio sets TCP_NODELAY only on sockets created with ``IPPROTO_TCP``, and
``http.server`` only when asked, so each server is checked on a connection it really accepted:
the accepted socket is found among this process's objects by its two addresses.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mfr.serve import serve
from pipeline.servers import BackgroundServer
from publisher.metrics import HealthServer, PublisherMetrics
from simulator import Simulator, SimulatorSection
from tests.kafka.broker import free_port


def _app() -> Starlette:
    return Starlette(routes=[Route("/", lambda _: PlainTextResponse("ok"))])


def accepted_nodelay(port: int, timeout_s: float = 10.0) -> bool:
    """Connect to ``port`` on loopback; whether the server's side of it has TCP_NODELAY."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as client:
        mine = client.getsockname()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for candidate in gc.get_objects():
                if (not isinstance(candidate, socket.socket) or candidate.fileno() < 0
                        or candidate.family not in (socket.AF_INET, socket.AF_INET6)):
                    continue
                try:
                    if candidate.getsockname()[1] == port and candidate.getpeername() == mine:
                        flag = candidate.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                        return flag != 0
                except OSError:
                    continue
            time.sleep(0.05)
    raise AssertionError(f"no accepted connection on port {port} found in this process")


def test_the_simulator_answers_without_nagle() -> None:
    """The simulated Exchange (EWS, Graph, control) is a server of ours too."""
    with Simulator(SimulatorSection(port=0)) as sim:
        assert accepted_nodelay(sim.port)


def test_servers_of_mfr_run_answer_without_nagle() -> None:
    """``mfr run`` serves the archive, the listener and the extractor as BackgroundServers."""
    with BackgroundServer(_app(), "127.0.0.1", 0, "test server") as server:
        assert accepted_nodelay(server.port)


def test_a_service_commands_server_answers_without_nagle() -> None:
    """``mfr archive``, ``mfr listener`` and ``mfr extractor`` serve through ``mfr.serve.serve``
    on the main thread until a signal; here it is stopped with SIGINT once checked."""
    port = free_port()
    found: list[bool] = []

    def check() -> None:
        try:
            found.append(accepted_nodelay(port))
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    with _waiting_for(port, check):
        serve(_app(), "127.0.0.1", port, what="test service")
    assert found == [True]


def test_the_publishers_health_server_answers_without_nagle() -> None:
    """The publisher serves /healthz, /readyz and /metrics with ``http.server``."""
    health = HealthServer(PublisherMetrics(), "127.0.0.1", 0)
    health.start()
    try:
        assert accepted_nodelay(health.port)
    finally:
        health.stop()


@contextmanager
def _waiting_for(port: int, then: Callable[[], None]) -> Iterator[None]:
    """Run ``then`` on a thread once something listens on ``port``."""

    def wait() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        then()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    yield
    thread.join(30)
