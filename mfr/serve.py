"""Serving a service's HTTP app with uvicorn so that SIGTERM and Ctrl-C end in a clean return,
over HTTPS when the service has a certificate, with ``/status`` and ``/metrics`` guarded.

uvicorn re-raises the signal once it has shut down, which kills the process before the caller's
own clean-up (finishing cycles, committing offsets, closing the bus) can run. Here the signal only
asks the server to stop, and ``serve`` returns.

Sockets are bound before uvicorn starts: a port already taken is a ``ConfigError`` naming the
address, not a log line followed by ``sys.exit`` from inside uvicorn. With a separate ops address
(``OpsAccess.host``) a second server shares the event loop; only the main one handles signals
and runs the app's lifespan, and the ops server stops with it.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn
from starlette.types import ASGIApp

from mfr.errors import ConfigError
from mfr.opsguard import OpsGuard, Role
from mfr.settings import OpsAccess, ServerTls
from mfr.tls import check_server_files


class QuietServer(uvicorn.Server):
    """A server that leaves signals alone (another server, or thread, decides when it stops) and
    over TLS drops idle keep-alive connections at once when stopping. Closing one the polite way
    sends TLS close_notify and waits for the peer's, and an idle client in a connection pool
    (Exchange's push, a Prometheus scraper) does not answer: asyncio then waits 30 s."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.config.is_ssl:
            for connection in list(self.server_state.connections):
                cycle = getattr(connection, "cycle", None)
                transport = getattr(connection, "transport", None)
                if transport is not None and (cycle is None or cycle.response_complete):
                    transport.abort()  # nothing in flight on it: nothing is lost
        await super().shutdown(sockets)


class _Server(QuietServer):
    """The main server: SIGINT and SIGTERM ask it to stop."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {s: signal.signal(s, self.handle_exit) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def listening_socket(host: str, port: int, what: str) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (0: any free port), not yet listening."""
    # IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets
    # whose proto says TCP, and with it on every small answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(
        socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"{what} cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


def server_config(
    app: ASGIApp,
    tls: ServerTls,
    access: OpsAccess,
    role: Role,
    log_level: str = "warning",
    main_lifespan: Literal["auto", "on"] = "auto",
) -> uvicorn.Config:
    """uvicorn's config for ``app`` behind the ops guard, over HTTPS when ``tls`` is set; the
    lifespan runs on the main server only."""
    options: dict[str, Any] = {}
    if tls.enabled:
        options = {"ssl_certfile": str(tls.cert_file), "ssl_keyfile": str(tls.key_file)}
    return uvicorn.Config(
        OpsGuard(app, access, role),
        log_level=log_level,
        lifespan=main_lifespan if role == "main" else "off",
        **options,
    )


def serve(
    app: ASGIApp,
    host: str,
    port: int,
    log_level: str = "warning",
    *,
    tls: ServerTls | None = None,
    ops: OpsAccess | None = None,
    what: str = "the service",
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then return normally."""
    tls = tls or ServerTls()
    ops = ops or OpsAccess()
    check_server_files(tls)
    main_socket = listening_socket(host, port, what)
    sockets = [main_socket]
    try:
        main = _Server(server_config(app, tls, ops, "main", log_level))
        extra: list[tuple[uvicorn.Server, socket.socket]] = []
        if ops.host is not None:
            ops_socket = listening_socket(ops.host, ops.port, f"{what} (ops address)")
            sockets.append(ops_socket)
            extra.append((QuietServer(server_config(app, tls, ops, "ops", log_level)), ops_socket))
        asyncio.run(_serve_together((main, main_socket), extra))
    finally:
        for sock in sockets:
            sock.close()


async def _serve_together(
    main: tuple[uvicorn.Server, socket.socket], extra: list[tuple[uvicorn.Server, socket.socket]]
) -> None:
    tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in extra]
    try:
        await main[0].serve(sockets=[main[1]])
    finally:
        for server, _ in extra:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
