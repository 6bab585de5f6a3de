"""``mfr listener``: hold EWS subscriptions (or Graph subscriptions, with ``[exchange] api =
"graph"``) for every selected mailbox until stopped."""

from __future__ import annotations

from typing import Annotated

import typer

from listener.app import create_app
from listener.service import Listener
from listener.settings import ListenerSettings
from mfr.bus import open_bus
from mfr.codec import Codec
from mfr.ews import EwsConnection
from mfr.graph import GraphClient
from mfr.logs import configure_logging
from mfr.options import ConfigOption
from mfr.serve import serve


def connection_for(settings: ListenerSettings) -> EwsConnection | GraphClient:
    """With ``api = "graph"`` the application's Graph client; otherwise the service account's
    EWS access, with room in its HTTP pool for the hanging connections."""
    if settings.exchange.api == "graph":
        if settings.exchange.graph is None:
            raise ValueError("[exchange] api = graph needs an [exchange.graph] section")
        return GraphClient(settings.exchange.graph)
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
    """Subscribe to the selected mailboxes (EWS streaming or push, or Graph webhooks); write
    change events."""
    configure_logging(json=json_logs)
    settings = ListenerSettings.load(config)
    bus = open_bus(settings.bus)
    connection = connection_for(settings)
    listener = Listener(settings, bus, connection, Codec())
    listener.start()
    try:
        section = settings.listener
        serve(create_app(listener), section.host, section.port, tls=section.tls,
              ops=section.ops, what="the listener")
    finally:
        listener.stop()
        if isinstance(connection, GraphClient):
            connection.close()
        bus.close()
