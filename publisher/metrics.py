"""The publisher's Prometheus metrics and its health endpoints (a small threaded HTTP server,
over HTTPS when given a certificate; ``/metrics`` guarded as every service's is, by
``mfr.opsguard``)."""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from mfr.metrics import new_registry
from mfr.opsguard import decide
from mfr.settings import OpsAccess, ServerTls
from mfr.tls import server_context

HANDSHAKE_TIMEOUT_S = 10.0  # a client that connects and says nothing holds one thread this long


class PublisherMetrics:
    """What the publisher counts; ``ready`` is false while the archive cannot be reached."""

    def __init__(self) -> None:
        self.registry = new_registry()
        self.consumed = Counter(
            "mfr_publisher_consumed_records", "Records polled from the bus", registry=self.registry
        )
        self.acknowledged = Counter(
            "mfr_publisher_acknowledged_records", "Records the archive acknowledged",
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "mfr_publisher_dead_lettered_records", "Records sent to the dead-letter topic",
            ["error_type"], registry=self.registry,
        )
        self.retries = Counter(
            "mfr_publisher_submit_retries", "Submissions retried", registry=self.registry
        )
        self.paused = Gauge(
            "mfr_publisher_paused", "1 while the archive is unavailable", registry=self.registry
        )
        self.lag = Gauge(
            "mfr_publisher_lag_seconds",
            "Age of the oldest record polled and not yet acknowledged by the archive (0: none)",
            registry=self.registry,
        )
        self.last_ack = Gauge(
            "mfr_publisher_last_ack_timestamp_seconds", "When the archive last acknowledged",
            registry=self.registry,
        )
        self.ready = threading.Event()
        self.problem: str | None = None  # why the archive is unavailable, while it is


class HealthServer:
    """Serves /healthz, /readyz and /metrics on its own thread."""

    def __init__(
        self,
        metrics: PublisherMetrics,
        host: str,
        port: int,
        tls: ServerTls | None = None,
        ops: OpsAccess | None = None,
    ) -> None:
        handler = _handler(metrics, ops or OpsAccess())
        tls = tls or ServerTls()
        context = server_context(tls) if tls.enabled else None
        self._server = _TlsServer((host, port), handler, context)
        self.scheme = "https" if context else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


class _TlsServer(ThreadingHTTPServer):
    """Each connection's TLS handshake runs on that connection's own thread, so a slow or
    silent client never stalls the accepting loop."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: Any, context: ssl.SSLContext | None
    ) -> None:
        super().__init__(address, handler)
        self._context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self._context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(HANDSHAKE_TIMEOUT_S)
        try:
            secured = self._context.wrap_socket(request, server_side=True)
        except OSError:
            return  # a client that does not trust us, or speaks plain HTTP: nothing to say
        with secured:
            super().finish_request(secured, client_address)


def _handler(metrics: PublisherMetrics, ops: OpsAccess) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # Headers and body go out in two writes; with Nagle's algorithm the second waits for
        # the client's delayed ACK (~40 ms per probe or scrape).
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            refusal = decide(ops, "main", path, self.client_address[0],
                             self.headers.get("Authorization"))
            if refusal is not None:
                self._send(refusal.status, refusal.body(), "application/json",
                           refusal.headers[1:])
            elif path == "/healthz":
                self._send(200, b'{"status":"ok"}', "application/json")
            elif path == "/readyz":
                ready = metrics.ready.is_set()
                detail = {"status": "ready"} if ready else {
                    "status": "not ready", "error": metrics.problem or "archive not reached yet"}
                self._send(200 if ready else 503, json.dumps(detail).encode(), "application/json")
            elif path == "/metrics":
                self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            else:
                self._send(404, b'{"detail":"not found"}', "application/json")

        def _send(self, status: int, body: bytes, content_type: str,
                  headers: list[tuple[str, str]] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for name, value in headers or []:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: probes would flood the log."""

    return Handler
