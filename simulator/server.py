"""The simulator as one object: the store, the EWS endpoint, the control API, and the HTTP server.

sim = Simulator()                       # or Simulator(SimulatorSection(...))
with sim:                               # serves on a free loopback port in a thread
    sim.control.create_mailbox("alice@sim.example")
    sim.endpoint_url                    # http://127.0.0.1:PORT/EWS/Exchange.asmx
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.clock import Clock
from simulator.control import Control
from simulator.controlapi import routes as control_routes
from simulator.endpoint import Endpoint
from simulator.errors import SimulatorError
from simulator.faults import Faults
from simulator.graph.face import GraphFace
from simulator.push import PushDispatcher
from simulator.requestlog import RequestLog
from simulator.settings import SimulatorSection
from simulator.store import Store
from simulator.streaming import Streams
from simulator.throttling import Throttle
from simulator.validation import ResponseValidator

EWS_PATH = "/EWS/Exchange.asmx"


class Simulator:
    """An EWS server over simulated mailboxes, with control, faults and a request log."""

    def __init__(self, settings: SimulatorSection | None = None, **overrides: Any) -> None:
        base = settings or SimulatorSection()
        self.settings = base.model_copy(update=overrides) if overrides else base
        s = self.settings
        self.clock = Clock()
        self.store = Store(self.clock, list(s.backends))
        self.faults = Faults()
        self.request_log = RequestLog()
        self.throttle = Throttle(s.limits)
        self.validator = None
        if s.validate_responses:
            if s.schema_dir is None:
                raise SimulatorError(
                    "validate_responses needs schema_dir (the folder of messages.xsd)"
                )
            self.validator = ResponseValidator(s.schema_dir)
        self.ews = Endpoint(
            self.store, s, self.faults, self.throttle, self.request_log, self.validator
        )
        self.ews.streaming = Streams(self.ews)
        self.push = PushDispatcher(self.ews)
        self.control = Control(self.store)
        self.graph = GraphFace(self.store, s.graph, self.clock, self.request_log)
        pop = s.population
        self.service_account = pop.service_account
        self.service_password = pop.service_password.get_secret_value()
        self.service_token = pop.service_token.get_secret_value()
        self.store.add_service_account(
            pop.service_account,
            password=self.service_password,
            tokens={self.service_token},
            impersonate={"*"},
        )
        self.app = self._build_app()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = s.port

    def _build_app(self) -> Starlette:
        async def ews(request: Request) -> Response:
            return await self.ews(request)

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            loop = asyncio.get_running_loop()
            tasks = [loop.create_task(self.push.run()), loop.create_task(self.graph.delivery.run())]
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

        return Starlette(
            routes=[
                Route(EWS_PATH, ews, methods=["POST"]),
                Route(EWS_PATH.lower(), ews, methods=["POST"]),
                *control_routes(self),
                *self.graph.starlette_routes(),
            ],
            lifespan=lifespan,
        )

    # --- running ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://{self.settings.host}:{self.port}"

    @property
    def graph_url(self) -> str:
        """Graph's version root, to give a Graph client as its base URL."""
        return self.url + "/v1.0"

    @property
    def endpoint_url(self) -> str:
        """The EWS endpoint URL to give exchangelib."""
        return self.url + EWS_PATH

    def start(self) -> Self:
        """Serve in a background thread; returns once the server accepts connections."""
        # IPPROTO_TCP so asyncio sets TCP_NODELAY (pipeline/servers.py says why).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.host, self.settings.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=2,
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="ews-simulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise SimulatorError("the simulator's HTTP server did not start")
            time.sleep(0.01)
        return self

    def serve(self) -> None:
        """Serve in the calling thread until interrupted."""
        uvicorn.run(self.app, host=self.settings.host, port=self.settings.port, log_level="warning")

    def stop(self) -> None:
        """Stop serving (open streaming connections are cut)."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- conveniences for tests --------------------------------------------------------------
    def ground_truth(self, smtp: str) -> dict[str, Any]:
        """The ground truth of a mailbox (see ``truth.py``)."""
        return self.control.ground_truth(smtp)

    def add_service_account(
        self,
        name: str,
        password: str | None = None,
        *,
        tokens: set[str] | None = None,
        impersonate: set[str] | None = None,
    ) -> None:
        """Add a login owning no mailbox; ``impersonate`` lists the mailboxes it may impersonate
        ("*" for all; empty for none)."""
        self.store.add_service_account(
            name, password=password, tokens=tokens, impersonate=impersonate
        )
