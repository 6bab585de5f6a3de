"""The publisher's Prometheus metrics and its health endpoints (a small threaded HTTP server)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class PublisherMetrics:
    """What the publisher counts; ``ready`` is false while the archive cannot be reached."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
        self.last_ack = Gauge(
            "mfr_publisher_last_ack_timestamp_seconds", "When the archive last acknowledged",
            registry=self.registry,
        )
        self.ready = threading.Event()


class HealthServer:
    """Serves /healthz, /readyz and /metrics on its own thread."""

    def __init__(self, metrics: PublisherMetrics, host: str, port: int) -> None:
        handler = _handler(metrics)
        self._server = ThreadingHTTPServer((host, port), handler)
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


def _handler(metrics: PublisherMetrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(200, b'{"status":"ok"}', "application/json")
            elif self.path == "/readyz":
                ready = metrics.ready.is_set()
                body = b'{"status":"ready"}' if ready else b'{"status":"archive unavailable"}'
                self._send(200 if ready else 503, body, "application/json")
            elif self.path == "/metrics":
                self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            else:
                self._send(404, b'{"detail":"not found"}', "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: probes would flood the log."""

    return Handler
