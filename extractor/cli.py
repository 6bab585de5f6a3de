"""``mfr extractor``: turn change events into folder and message state until stopped."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from extractor.app import create_app
from extractor.service import Extractor
from extractor.settings import ExtractorSettings
from mfr.bus import open_bus
from mfr.codec import Codec
from mfr.logs import configure_logging
from mfr.options import ConfigOption
from mfr.serve import serve


def command(
    config: ConfigOption = None,
    json_logs: Annotated[bool, typer.Option(help="log JSON lines")] = False,
) -> None:
    """Consume change events, sync mailboxes from Exchange, publish their state."""
    configure_logging(json=json_logs)
    settings = ExtractorSettings.load(config)
    bus = open_bus(settings.bus)
    # The extractor reaches Exchange as settings.exchange.api says (EWS, or Graph).
    extractor = Extractor(settings, bus, codec=Codec())
    stop = threading.Event()
    worker = threading.Thread(target=extractor.run, args=(stop,), name="extractor")
    worker.start()
    try:
        section = settings.extractor
        serve(create_app(extractor), section.host, section.port, tls=section.tls,
              ops=section.ops, what="the extractor")
    finally:
        stop.set()
        worker.join()
        bus.close()
