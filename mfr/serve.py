"""Serving a service's HTTP app with uvicorn so that SIGTERM and Ctrl-C end in a clean return.

uvicorn re-raises the signal once it has shut down, which kills the process before the caller's
own clean-up (finishing cycles, committing offsets, closing the bus) can run. Here the signal only
asks the server to stop, and ``serve`` returns.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {s: signal.signal(s, self.handle_exit) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(app: FastAPI, host: str, port: int, log_level: str = "warning") -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then return normally."""
    _Server(uvicorn.Config(app, host=host, port=port, log_level=log_level)).run()
