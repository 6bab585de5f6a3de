"""Structured logs for every service: one line per event, with context bound once per message
(mailbox, item, subscription ids) by the code that handles it."""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(json: bool = False, level: str = "INFO") -> None:
    """Route structlog and the standard library's logging to stderr, as JSON or readable text."""
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format="%(message)s")
    # httpx logs every request at INFO: a line per published batch would drown the service's own.
    quieter = max(logging.WARNING, logging.getLevelName(level.upper()))
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(quieter)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
