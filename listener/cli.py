"""``mfr listener``: hold EWS subscriptions for every selected mailbox until stopped."""

from __future__ import annotations

from typing import Annotated

import typer

from listener.app import create_app
from listener.service import Listener
from listener.settings import ListenerSettings
from mfr.bus import open_bus
from mfr.codec import Codec
from mfr.ews import EwsConnection
from mfr.logs import configure_logging
from mfr.options import ConfigOption
from mfr.serve import serve


def connection_for(settings: ListenerSettings) -> EwsConnection:
    """The service account's EWS access, with room in its HTTP pool for the hanging connections."""
    streaming = settings.listener.streaming
    hanging = 0
    if settings.listener.mode == "streaming":
        hanging = streaming.hanging_connection_limit
        if streaming.hanging_budget == "anchor_mailbox":
            hanging = max(hanging, streaming.max_connections)
    return EwsConnection(settings.exchange, hanging_connections=hanging)


def command(
    config: ConfigOption = None,
    json_logs: Annotated[bool, typer.Option(help="log JSON lines")] = False,
) -> None:
    """Subscribe to the selected mailboxes (streaming or push); write change events."""
    configure_logging(json=json_logs)
    settings = ListenerSettings.load(config)
    bus = open_bus(settings.bus)
    listener = Listener(settings, bus, connection_for(settings), Codec())
    listener.start()
    try:
        serve(create_app(listener), settings.listener.host, settings.listener.port)
    finally:
        listener.stop()
        bus.close()
