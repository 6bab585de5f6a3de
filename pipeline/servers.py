"""HTTP apps served in background threads of one process, next to the main thread's server.

uvicorn listens for signals only on the main thread, so servers here never touch signal
handling: whoever owns the main thread decides when they stop. The socket is bound before the
thread starts, so port 0 picks a free port without a race and ``port`` is known at once.
Each server applies the same TLS and ``/status``/``/metrics`` rule as the service's own command
(``mfr.serve.server_config``).
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Self

from starlette.types import ASGIApp

from mfr.errors import ConfigError
from mfr.opsguard import Role
from mfr.serve import QuietServer, listening_socket, server_config
from mfr.settings import OpsAccess, ServerTls
from mfr.tls import check_server_files
from pipeline.errors import PipelineError


class BackgroundServer:
    """``app`` served by uvicorn on ``host``:``port`` (0: any free port) in a daemon thread,
    over HTTPS with ``tls``; ``role`` "ops" serves only probes, /status and /metrics (no
    lifespan: the main server of the same app runs it)."""

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        name: str,
        *,
        tls: ServerTls | None = None,
        ops: OpsAccess | None = None,
        role: Role = "main",
    ) -> None:
        self.name = name
        tls = tls or ServerTls()
        check_server_files(tls)
        self.scheme = "https" if tls.enabled else "http"
        try:
            self._socket = listening_socket(host, port, name)  # TCP_NODELAY: see there
        except ConfigError as exc:
            raise PipelineError(str(exc)) from exc
        self.host = host
        self.port = int(self._socket.getsockname()[1])
        config = server_config(app, tls, ops or OpsAccess(), role, main_lifespan="on")
        self._server = QuietServer(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=name, daemon=True
        )

    @property
    def url(self) -> str:
        """Base URL (loopback when listening on every address)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104
        return f"{self.scheme}://{host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        """Serve; returns once the server has started (its lifespan ran)."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise PipelineError(f"{self.name} did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Finish open requests, run the app's shutdown, release the port."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self._socket.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
