"""The simulator as one object: the store, the EWS endpoint, the control API, and the HTTP server.

sim = Simulator()                       # or Simulator(SimulatorSection(...))
with sim:                               # serves on a free loopback port in a thread
    sim.control.create_mailbox("alice@sim.example")
    sim.endpoint_url                    # http://127.0.0.1:PORT/EWS/Exchange.asmx

With ``tls=True`` everything (EWS, Graph, the token endpoint, control) is served over HTTPS with a
certificate of the simulator's own CA (``tls.py``); ``sim.url`` starts with ``https://`` and
``sim.ca_file`` is the CA for clients to trust.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mfr.certs import LOOPBACK_NAMES, TlsFiles, server_files
from mfr.serve import listening_socket
from simulator.clock import Clock
from simulator.control import Control
from simulator.controlapi import routes as control_routes
from simulator.endpoint import Endpoint
from simulator.errors import SimulatorError
from simulator.faults import Faults
from simulator.graph.face import GraphFace
from simulator.push import PushDispatcher
from simulator.requestlog import RequestLog
from simulator.settings import DEFAULT_SCHEMA_DIR, SimulatorSection, schema_dir_of
from simulator.store import Store
from simulator.streaming import Streams
from simulator.throttling import Throttle
from simulator.validation import RequestValidator, ResponseValidator

EWS_PATH = "/EWS/Exchange.asmx"


log = structlog.get_logger(__name__)

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
        schema_dir = schema_dir_of(s)
        if schema_dir is None:
            # Refusing what Exchange refuses needs Microsoft's schema; without it the simulator
            # still serves (a demo from an installed package), and says what it cannot check.
            log.warning(
                "EWS requests are not validated: no EWS schema; set [simulator] schema_dir "
                "to the folder of Microsoft's messages.xsd and types.xsd",
                looked_in=str(DEFAULT_SCHEMA_DIR),
            )
        self.validator: ResponseValidator | None = None
        if s.validate_responses:
            if schema_dir is None:
                raise SimulatorError("validate_responses needs the EWS schema: set schema_dir")
            self.validator = ResponseValidator(schema_dir)
        self.ews = Endpoint(
            self.store,
            s,
            self.faults,
            self.throttle,
            self.request_log,
            self.validator,
            # Always on, as on Exchange: it costs too little to switch (simulator/README.md).
            request_validator=RequestValidator(schema_dir) if schema_dir else None,
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
        self._tls_temp: tempfile.TemporaryDirectory[str] | None = None
        self.tls: TlsFiles | None = self._tls_files() if s.tls else None
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
    def _tls_files(self) -> TlsFiles:
        """The CA and server certificate, kept in ``tls_dir`` or else a temporary folder that
        goes when the simulator object does."""
        directory = self.settings.tls_dir
        if directory is None:
            self._tls_temp = tempfile.TemporaryDirectory(prefix="mfr-simulator-tls-")
            directory = Path(self._tls_temp.name)
        wildcard = self.settings.host in {"0.0.0.0", "::", ""}  # noqa: S104 - a name, not a bind
        hosts = LOOPBACK_NAMES if wildcard else (*LOOPBACK_NAMES, self.settings.host)
        return server_files(directory, hosts)

    def _ssl_options(self) -> dict[str, Any]:
        if self.tls is None:
            return {}
        return {"ssl_certfile": str(self.tls.cert_file), "ssl_keyfile": str(self.tls.key_file)}

    @property
    def url(self) -> str:
        """The server's base URL (``https://`` when serving TLS)."""
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self.settings.host}:{self.port}"

    @property
    def authority_url(self) -> str:
        """The identity platform's instance as msal wants it: the authority is
        ``f"{authority_url}/{tenant}"`` (msal accepts only https, so a TLS simulator)."""
        return self.url

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate a client must trust to reach a TLS simulator (None without TLS)."""
        return None if self.tls is None else self.tls.ca_file

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
        sock = listening_socket(self.settings.host, self.settings.port, "the simulator")
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=2,
            access_log=False,
            **self._ssl_options(),
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
        uvicorn.run(
            self.app,
            host=self.settings.host,
            port=self.settings.port,
            log_level="warning",
            **self._ssl_options(),
        )

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
